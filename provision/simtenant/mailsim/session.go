package mailsim

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"time"
)

// maxLine bounds a command line. An access token is a few kilobytes, so a one-line SASL
// initial response is long; Exchange's real limit over SMTP is not known (mailbox.md §8.4).
const maxLine = 64 << 10

var errLineTooLong = errors.New("line too long")

// session is one client connection: a line reader and writer with an idle deadline.
type session struct {
	conn net.Conn
	r    *bufio.Reader
}

func newSession(c net.Conn) *session {
	return &session{conn: c, r: bufio.NewReader(c)}
}

// readLine reads one CRLF- (or LF-) terminated line without its terminator.
func (s *session) readLine() (string, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(idleTimeout))
	var b []byte
	for {
		chunk, more, err := s.r.ReadLine()
		if err != nil {
			return "", err
		}
		b = append(b, chunk...)
		if len(b) > maxLine {
			return "", errLineTooLong
		}
		if !more {
			return string(b), nil
		}
	}
}

// write sends lines, each terminated with CRLF.
func (s *session) write(lines ...string) error {
	_ = s.conn.SetWriteDeadline(time.Now().Add(idleTimeout))
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	_, err := io.WriteString(s.conn, b.String())
	return err
}

// saslResponse returns the client's SASL response: the initial response sent with the
// command when there is one, else the line that answers the empty challenge the server sends
// (challenge is the protocol's continuation prefix, "334 " or "+ "). aborted is true when the
// client cancelled with "*"; err is set when the connection broke.
func (s *session) saslResponse(initial, challenge string) (response string, aborted bool, err error) {
	if response = strings.TrimSpace(initial); response != "" {
		return response, false, nil
	}
	if err := s.write(challenge); err != nil {
		return "", false, err
	}
	line, err := s.readLine()
	if err != nil {
		return "", false, err
	}
	if strings.TrimSpace(line) == "*" {
		return "", true, nil
	}
	return line, false, nil
}

// startTLS performs the server side of a TLS handshake on the connection and reads from the
// TLS connection from then on. Anything the client pipelined before is dropped with the old
// reader, as RFC 3207 requires.
func (srv *Server) startTLS(s *session) error {
	tc := tls.Server(s.conn, srv.opts.TLS)
	_ = tc.SetDeadline(time.Now().Add(idleTimeout))
	if err := tc.Handshake(); err != nil {
		return err
	}
	srv.track(s.conn, tc)
	s.conn, s.r = tc, bufio.NewReader(tc)
	return nil
}

// command splits a command line into its verb (upper-cased) and the rest.
func command(line string) (verb, rest string) {
	verb, rest, _ = strings.Cut(strings.TrimSpace(line), " ")
	return strings.ToUpper(verb), strings.TrimSpace(rest)
}
