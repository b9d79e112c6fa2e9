package mesossim

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Media types of the operator API.
const (
	mediaJSON     = "application/json"
	mediaProtobuf = "application/x-protobuf"
	mediaRecordIO = "application/recordio"
)

// accepts reports whether the header field name of h (Accept or
// Message-Accept) admits mediaType, following RFC 7231 media ranges with
// q-values as libprocess's Request::acceptsMediaType does: an absent field
// accepts everything; "*/*", "type/*" and the exact type match; q=0 rejects.
// The most specific matching range decides.
//
// libprocess keeps only the last of repeated header fields, and clients
// rely on it: mesos-go's streaming SUBSCRIBE sends "Accept: <codec>" and then
// "Accept: application/recordio", and expects RecordIO back.
func accepts(h http.Header, name, mediaType string) bool {
	values := h.Values(name)
	if len(values) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(mediaType, "/")
	best, bestQ := -1, 0.0
	for _, v := range values[len(values)-1:] {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(qs, 64); err == nil {
					q = f
				}
			}
			specificity := -1
			switch {
			case mt == mediaType:
				specificity = 2
			case mt == typ+"/*":
				specificity = 1
			case mt == "*/*":
				specificity = 0
			}
			if specificity > best {
				best, bestQ = specificity, q
			}
		}
	}
	return best >= 0 && bestQ > 0
}
