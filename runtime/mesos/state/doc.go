// Package state is the Mesos state model of mesosnet: a Store fed by the
// operator API (the SUBSCRIBE stream of the leading master, or one-shot
// GET_STATE bodies) that keeps the raw agents, frameworks and tasks, the
// normalised v1.Task of every task (Normalize, spec dcos-net.md §2.1 and
// §3.1), and publishes immutable Snapshots to its subscribers.
//
// The wire client (package runtime/mesos) calls Subscribed, Apply and
// Disconnected as the stream goes; consumers (the DNS plugin, the task and
// VIP controllers) read Current or Subscribe and react to Notifications. A
// snapshot is never modified, so a consumer can keep one as long as it likes
// and diff it against a newer one.
package state
