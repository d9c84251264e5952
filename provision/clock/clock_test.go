package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeSleepAdvances(t *testing.T) {
	start := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	if err := f.Sleep(context.Background(), 30*time.Second); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	if got, want := f.Now(), start.Add(30*time.Second); !got.Equal(want) {
		t.Errorf("Now() = %v, want %v", got, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Sleep(ctx, time.Second); err == nil {
		t.Error("Sleep on a cancelled context returned nil, want context.Canceled")
	}
	if got, want := f.Now(), start.Add(30*time.Second); !got.Equal(want) {
		t.Errorf("a cancelled Sleep moved the clock to %v, want %v", got, want)
	}
}

func TestRealSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (Real{}).Sleep(ctx, time.Hour); err == nil {
		t.Error("Real.Sleep on a cancelled context returned nil")
	}
}

func TestOrFallsBackToTheWallClock(t *testing.T) {
	if _, ok := Or(nil).(Real); !ok {
		t.Errorf("Or(nil) = %T, want clock.Real", Or(nil))
	}
	f := NewFake(time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC))
	if got := Or(f); got != Clock(f) {
		t.Errorf("Or(fake) = %v, want the fake itself", got)
	}
}
