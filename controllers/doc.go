// Package controllers is the parent of mesosnet's controllers, one package
// per controller (overlay, loadbalancer, subnetalloc, vipalloc, taskstate,
// ...). Each is a level-triggered reconciler built on runtime/controller:
// a key in, desired and actual state re-read, the difference applied.
// Master allocators run only on the raft leader; node reconcilers run on
// every agent with a single key, a full diff each pass and a periodic resync.
package controllers
