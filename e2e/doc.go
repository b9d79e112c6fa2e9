// Package e2e holds the end-to-end suite (build tag e2e): kind-like mesosnet
// nodes as Docker containers from a locally assembled image on an --internal
// Docker network, with mesosnet-sim playing Mesos. Run it with `make e2e`.
package e2e
