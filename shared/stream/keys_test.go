package stream

import "testing"

func TestKeys_Validate(t *testing.T) {
	if err := DefaultKeys().Validate(); err != nil {
		t.Errorf("DefaultKeys().Validate() = %v, want nil", err)
	}
	k := DefaultKeys()
	k.Mod = k.Chat
	if err := k.Validate(); err == nil {
		t.Error("Validate with duplicate keys = nil, want error")
	}
	k = DefaultKeys()
	k.Decisions = ""
	if err := k.Validate(); err == nil {
		t.Error("Validate with empty key = nil, want error")
	}
}
