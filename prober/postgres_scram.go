package prober

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// The client side of PostgreSQL's password authentications: SCRAM-SHA-256
// (RFC 5802, RFC 7677, without channel binding) and md5. pgx implements
// them inside pgconn, which would own the connection; these are small
// enough to keep beside the message exchange.

// scramMechanism is the only SASL mechanism spoken.
const scramMechanism = "SCRAM-SHA-256"

// maxSCRAMIterations bounds the PBKDF2 work a server can ask for.
const maxSCRAMIterations = 1 << 20

// scramClient is one SCRAM-SHA-256 exchange.
type scramClient struct {
	password    string
	clientNonce string
	clientFirst string // client-first-message-bare
	authMessage string
	salted      []byte
}

func newSCRAM(password string) (*scramClient, error) {
	nonce := make([]byte, 18)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	s := &scramClient{password: password, clientNonce: base64.RawStdEncoding.EncodeToString(nonce)}
	// PostgreSQL takes the user from the startup message, not from here.
	s.clientFirst = "n=,r=" + s.clientNonce
	return s, nil
}

// first is the client-first-message.
func (s *scramClient) first() []byte { return []byte("n,," + s.clientFirst) }

// final answers the server-first-message with the client-final-message.
func (s *scramClient) final(serverFirst []byte) ([]byte, error) {
	attrs := scramAttrs(string(serverFirst))
	nonce, salt64, iter := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.clientNonce) || len(nonce) == len(s.clientNonce) {
		return nil, errors.New("SCRAM: the server's nonce does not extend ours")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return nil, errors.New("SCRAM: the server's salt is not base64")
	}
	n, err := strconv.Atoi(iter)
	if err != nil || n < 1 || n > maxSCRAMIterations {
		return nil, errors.New("SCRAM: iteration count " + strconv.Quote(clip(iter)) + " is not between 1 and " + strconv.Itoa(maxSCRAMIterations))
	}
	s.salted, err = pbkdf2.Key(sha256.New, s.password, salt, n, sha256.Size)
	if err != nil {
		return nil, err
	}
	withoutProof := "c=biws,r=" + nonce
	s.authMessage = s.clientFirst + "," + string(serverFirst) + "," + withoutProof
	clientKey := hmacSHA256(s.salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	sig := hmacSHA256(stored[:], s.authMessage)
	proof := make([]byte, len(clientKey))
	for i := range clientKey {
		proof[i] = clientKey[i] ^ sig[i]
	}
	return []byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// verify checks the server-final-message: the server knew the password too.
func (s *scramClient) verify(serverFinal []byte) error {
	if s.salted == nil {
		return errors.New("SCRAM: server-final before server-first")
	}
	attrs := scramAttrs(string(serverFinal))
	if e, ok := attrs["e"]; ok {
		return errors.New("SCRAM: server error " + strconv.Quote(clip(e)))
	}
	got, err := base64.StdEncoding.DecodeString(attrs["v"])
	if err != nil {
		return errors.New("SCRAM: the server's signature is not base64")
	}
	want := hmacSHA256(hmacSHA256(s.salted, "Server Key"), s.authMessage)
	if !hmac.Equal(got, want) {
		return errors.New("SCRAM: the server's signature is wrong (it does not know the password)")
	}
	return nil
}

// scramAttrs splits "a=1,b=2" into its attributes (the first of each wins).
func scramAttrs(msg string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(msg, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok && len(k) == 1 {
			if _, dup := m[k]; !dup {
				m[k] = v
			}
		}
	}
	return m
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// md5Password is PostgreSQL's md5 answer: "md5" + md5(md5(password+user)+salt).
func md5Password(user, password string, salt [4]byte) string {
	inner := md5.Sum([]byte(password + user))
	h := hex.EncodeToString(inner[:])
	outer := md5.Sum(bytes.Join([][]byte{[]byte(h), salt[:]}, nil))
	return "md5" + hex.EncodeToString(outer[:])
}
