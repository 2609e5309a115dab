//go:build tools

// Package tools keeps kube-apiserver's dependencies in go.mod and go.sum: the binary
// itself is built with `go build k8s.io/kubernetes/cmd/kube-apiserver`.
package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"
