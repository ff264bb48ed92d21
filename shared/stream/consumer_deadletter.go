package stream

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// DeadLetterSchemaVersion is the version of the dead-letter entry layout.
const DeadLetterSchemaVersion = "1"

// Dead-letter reasons the consumer itself uses. Handlers pass their own
// reasons to Batch.Reject (decide uses "bad_input: <decode error>").
const (
	ReasonMaxDeliveries = "max_deliveries" // delivered more than MaxDeliveries times
)

// DeadLetter is one entry of the dead-letter stream: a stream entry that no
// consumer could process, with why. Stream field names are in the comments.
type DeadLetter struct {
	SrcStream  string         // src_stream: the stream the entry came from
	SrcID      string         // src_id: its entry ID there
	Group      string         // group: consumer group that gave up
	Consumer   string         // consumer: consumer name that gave up
	Reason     string         // reason: short machine-readable reason, optionally ": detail"
	Deliveries int64          // deliveries: times the entry had been delivered
	DeadAtUs   int64          // dead_at_us: when it was dead-lettered, Unix microseconds
	Payload    map[string]any // payload: the original field/value pairs, as a JSON object of strings
}

// Stream field names of DeadLetter.
const (
	dlFieldSchemaVersion = "schema_version"
	dlFieldSrcStream     = "src_stream"
	dlFieldSrcID         = "src_id"
	dlFieldGroup         = "group"
	dlFieldConsumer      = "consumer"
	dlFieldReason        = "reason"
	dlFieldDeliveries    = "deliveries"
	dlFieldDeadAtUs      = "dead_at_us"
	dlFieldPayload       = "payload"
)

// Values appends the stream entry's field/value pairs for d to dst.
func (d *DeadLetter) Values(dst []any) []any {
	payload := "{}"
	if d.Payload != nil {
		// Values of a go-redis XMessage are strings; json.Marshal sorts keys,
		// so the payload is deterministic. It cannot fail for map[string]any
		// of strings; anything else is encoded by fmt.
		p := make(map[string]string, len(d.Payload))
		for k, v := range d.Payload {
			switch s := v.(type) {
			case string:
				p[k] = s
			case []byte:
				p[k] = string(s)
			default:
				p[k] = fmt.Sprint(v)
			}
		}
		if b, err := json.Marshal(p); err == nil {
			payload = string(b)
		}
	}
	return append(dst,
		dlFieldSchemaVersion, DeadLetterSchemaVersion,
		dlFieldSrcStream, d.SrcStream,
		dlFieldSrcID, d.SrcID,
		dlFieldGroup, d.Group,
		dlFieldConsumer, d.Consumer,
		dlFieldReason, d.Reason,
		dlFieldDeliveries, strconv.FormatInt(d.Deliveries, 10),
		dlFieldDeadAtUs, strconv.FormatInt(d.DeadAtUs, 10),
		dlFieldPayload, payload,
	)
}

// DecodeDeadLetter decodes a dead-letter stream entry's values.
func DecodeDeadLetter(vals map[string]any) (DeadLetter, error) {
	str := func(f string) string {
		switch s := vals[f].(type) {
		case string:
			return s
		case []byte:
			return string(s)
		}
		return ""
	}
	if v := str(dlFieldSchemaVersion); v != DeadLetterSchemaVersion {
		return DeadLetter{}, fmt.Errorf("decode dead letter: unsupported schema version %q", v)
	}
	d := DeadLetter{
		SrcStream: str(dlFieldSrcStream), SrcID: str(dlFieldSrcID), Group: str(dlFieldGroup),
		Consumer: str(dlFieldConsumer), Reason: str(dlFieldReason),
	}
	var err error
	if d.Deliveries, err = strconv.ParseInt(str(dlFieldDeliveries), 10, 64); err != nil {
		return DeadLetter{}, fmt.Errorf("decode dead letter field %q: %w", dlFieldDeliveries, err)
	}
	if d.DeadAtUs, err = strconv.ParseInt(str(dlFieldDeadAtUs), 10, 64); err != nil {
		return DeadLetter{}, fmt.Errorf("decode dead letter field %q: %w", dlFieldDeadAtUs, err)
	}
	var p map[string]string
	if err := json.Unmarshal([]byte(str(dlFieldPayload)), &p); err != nil {
		return DeadLetter{}, fmt.Errorf("decode dead letter field %q: %w", dlFieldPayload, err)
	}
	d.Payload = make(map[string]any, len(p))
	for k, v := range p {
		d.Payload[k] = v
	}
	return d, nil
}
