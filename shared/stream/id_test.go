package stream

import (
	"testing"
	"time"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		in      string
		want    ID
		wantErr bool
	}{
		{"1795611600000-0", ID{MS: 1795611600000}, false},
		{"1-2", ID{MS: 1, Seq: 2}, false},
		{"7", ID{MS: 7}, false}, // a bare ms has sequence 0
		{"0-0", ID{}, false},
		{"18446744073709551615-18446744073709551615", ID{MS: 1<<64 - 1, Seq: 1<<64 - 1}, false},
		{"", ID{}, true},
		{"-1", ID{}, true},
		{"1-", ID{}, true},
		{"x-1", ID{}, true},
		{"1-x", ID{}, true},
		{"1-2-3", ID{}, true},
		{"18446744073709551616-0", ID{}, true}, // ms overflows
		{" 1-2", ID{}, true},
		{"$", ID{}, true},
	}
	for _, tt := range tests {
		got, err := ParseID(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestID_String(t *testing.T) {
	tests := []struct {
		in   ID
		want string
	}{
		{ID{}, "0-0"},
		{ID{MS: 1795611600000, Seq: 3}, "1795611600000-3"},
		{ID{MS: 1<<64 - 1, Seq: 1<<64 - 1}, "18446744073709551615-18446744073709551615"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseID(tt.want); err != nil || back != tt.in {
			t.Errorf("ParseID(%q) = %+v, %v; want %+v (round trip)", tt.want, back, err, tt.in)
		}
	}
}

func TestID_Compare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1-0", "1-0", 0},
		{"1-2", "1-10", -1}, // numeric, not lexical
		{"10-0", "9-99", 1},
		{"9-99", "10-0", -1},
		{"5-1", "5-0", 1},
		{"5", "5-0", 0},
		{"0-0", "18446744073709551615-0", -1},
	}
	for _, tt := range tests {
		a, _ := ParseID(tt.a)
		b, _ := ParseID(tt.b)
		if got := a.Compare(b); got != tt.want {
			t.Errorf("ParseID(%q).Compare(%q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("ParseID(%q).Compare(%q) = %d, want %d (antisymmetric)", tt.b, tt.a, got, -tt.want)
		}
		if got := compareIDs(tt.a, tt.b); got != tt.want {
			t.Errorf("compareIDs(%q, %q) = %d, want %d (same order as ID.Compare)", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestID_Time(t *testing.T) {
	tests := []struct {
		in   ID
		want time.Time
	}{
		{ID{MS: 1795611600000, Seq: 9}, time.Date(2026, 11, 25, 13, 0, 0, 0, time.UTC)},
		{ID{MS: 1795615199999}, time.Date(2026, 11, 25, 13, 59, 59, 999_000_000, time.UTC)},
		{ID{}, time.Unix(0, 0).UTC()},
	}
	for _, tt := range tests {
		got := tt.in.Time()
		if !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("%s.Time() = %v, want %v in UTC", tt.in, got, tt.want)
		}
	}
}
