// Package corednsplugin is the parent of the CoreDNS plugins mesosnet ships
// (one package per plugin, laid out as CoreDNS's own plugins are). The
// `mesos` plugin serves *.mesos, dcos.thisdcos.directory and
// l4lb.thisdcos.directory from an immutable in-memory snapshot of Mesos state.
package corednsplugin
