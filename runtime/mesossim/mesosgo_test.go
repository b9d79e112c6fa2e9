package mesossim_test

import (
	"io"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mesos/mesos-go/api/v1/lib/client"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
	"github.com/mesosnet/mesosnet/runtime/mesossim/mesossimtest"
)

// TestMesosGoClient checks that mesos-go's own HTTP client, which real Go
// Mesos tooling uses, accepts the simulator: GET_STATE and a SUBSCRIBE
// stream replaying a capture, in JSON and protobuf, through its automatic
// framing detection and through explicit RecordIO negotiation.
func TestMesosGoClient(t *testing.T) {
	const rel = "mesos-api/v1-operator-api/dcos-net/operator-api.json"
	want := fixtureEvents(t, rel)
	for _, codec := range []string{codecs.NameJSON, codecs.NameProtobuf} {
		for name, class := range map[string]client.ResponseClass{"auto": client.ResponseClassAuto, "streaming": client.ResponseClassStreaming} {
			t.Run(codec+" "+name, func(t *testing.T) {
				// The capture's heartbeat interval, so that SUBSCRIBED matches it.
				_, ts := mesossimtest.Start(t, mesossim.Options{Scenario: loadScenario(t, rel), HeartbeatInterval: 15 * time.Second})
				mediaType := codecs.MediaTypeJSON
				if codec == codecs.NameProtobuf {
					mediaType = codecs.MediaTypeProtobuf
				}
				cli := httpcli.New(httpcli.Endpoint(ts.URL+"/api/v1"), httpcli.Codec(codecs.ByMediaType[mediaType]))
				ctx := streamCtx(t)

				sender := httpmaster.NewSender(cli.Send)
				resp, err := sender.Send(ctx, calls.NonStreaming(calls.GetState()))
				if err != nil {
					t.Fatalf("GET_STATE: %v", err)
				}
				var state master.Response
				if err := resp.Decode(&state); err != nil {
					t.Fatalf("decode GET_STATE: %v", err)
				}
				resp.Close()
				if diff := cmp.Diff(want[0].GetSubscribed().GetGetState(), state.GetGetState()); diff != "" {
					t.Errorf("GET_STATE (-capture +client):\n%s", diff)
				}

				stream, err := cli.Send(client.RequestSingleton(calls.Subscribe()), class, httpcli.Context(ctx))
				if err != nil {
					t.Fatalf("SUBSCRIBE: %v", err)
				}
				defer stream.Close()
				var got []master.Event
				for len(got) < len(want) {
					var ev master.Event
					if err := stream.Decode(&ev); err != nil {
						if err == io.EOF {
							t.Fatalf("stream ended after %d events", len(got))
						}
						t.Fatalf("decode event %d: %v", len(got), err)
					}
					if ev.GetType() != master.Event_HEARTBEAT {
						got = append(got, ev)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("events (-capture +client):\n%s", diff)
				}
			})
		}
	}
}
