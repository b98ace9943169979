// Package check tests the Helm chart in deploy/helm/idleprobe without a
// cluster: it renders the chart with the real helm for each mode (the
// values files in the chart's ci/ folder), decodes every rendered object
// strictly (an unknown field is an error) into the Kubernetes and
// prometheus-operator Go types, and checks what the chart promises: the
// security context, the node label and the shard flag, selectors that
// match, a config that idleprobe accepts, and alert rules equal to
// configs/alerts.
//
// It is a module of its own so that the Kubernetes types do not become
// dependencies of idleprobe.
package check
