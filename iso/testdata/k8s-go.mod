// A trimmed-down k8s.io/kubernetes go.mod: staging modules are replaced by local paths,
// which the module proxy cannot serve.

module k8s.io/kubernetes

go 1.24.0

godebug default=go1.24

require (
	github.com/spf13/cobra v1.9.1
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
)

replace (
	github.com/example/forked => github.com/example/forked v1.2.3
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
