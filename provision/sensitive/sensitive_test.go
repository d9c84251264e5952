package sensitive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNeverPrints(t *testing.T) {
	const secret = "Xy8Q~not-for-your-eyes"
	s := New(secret)
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("rotated", "secret", s)
	js, err := json.Marshal(struct{ Secret String }{s})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []struct{ reason, text string }{
		{"%v", fmt.Sprintf("%v", s)},
		{"%s", fmt.Sprintf("%s", s)},
		{"%+v of a struct", fmt.Sprintf("%+v", struct{ S String }{s})},
		{"%#v", fmt.Sprintf("%#v", s)},
		{"json", string(js)},
		{"slog", logged.String()},
	} {
		if strings.Contains(out.text, secret) {
			t.Errorf("%s leaked the secret: %s", out.reason, out.text)
		}
		if !strings.Contains(out.text, Mask) {
			t.Errorf("%s does not show the mask: %s", out.reason, out.text)
		}
	}
	if s.Reveal() != secret {
		t.Errorf("Reveal() = %q, want the value", s.Reveal())
	}
}
