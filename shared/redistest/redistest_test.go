package redistest

import (
	"testing"
)

func TestStart_PingAndStop(t *testing.T) {
	s := StartServer(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping %s: %v", s.Addr, err)
	}
	s.Stop()
	if err := ping(s.Addr); err == nil {
		t.Fatalf("ping %s after Stop succeeded, want error", s.Addr)
	}
	s.Restart(t)
	if err := ping(s.Addr); err != nil {
		t.Fatalf("ping %s after Restart: %v", s.Addr, err)
	}
}

func TestStart_Independent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a == b {
		t.Fatalf("two servers share address %s", a)
	}
}

func TestCPU_Grows(t *testing.T) {
	addr := Start(t)
	a := CPU(t, addr)
	for range 2000 {
		if err := ping(addr); err != nil {
			t.Fatal(err)
		}
	}
	if b := CPU(t, addr); b <= a || a < 0 {
		t.Errorf("CPU before %v, after 2,000 connections %v: want it to grow", a, b)
	}
}
