package dblatency

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Target is where a PostgreSQL connection string (URL or keyword=value)
// connects, in the form Start takes: host:port, or the Unix socket's path
// when the host is a directory (internal/pgembed's servers).
func Target(connString string) (string, error) {
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		return "", fmt.Errorf("dblatency: parse connection string: %w", err)
	}
	// sslmode=prefer makes fallbacks to the same host; other hosts are a
	// list the proxy cannot stand in for.
	for _, fb := range cfg.Fallbacks {
		if fb.Host != cfg.Host || fb.Port != cfg.Port {
			return "", errors.New("dblatency: the connection string names several hosts; give one")
		}
	}
	_, address := pgconn.NetworkAddress(cfg.Host, cfg.Port)
	return address, nil
}

// ConnString is connString pointed at the proxy: its host and port replaced
// by the proxy's address, every other setting kept. The proxy is plain
// TCP on loopback, so a setting that verifies the server's name
// (sslmode=verify-full) no longer fits; the databases it fronts here are
// local ones without TLS.
func (p *Proxy) ConnString(connString string) (string, error) {
	return PointAt(connString, p.Addr())
}

// PointAt is connString with its host and port replaced by addr (a
// host:port), every other setting kept: how any proxy on loopback
// (internal/dsqlsim too) hands its clients a connection string.
func PointAt(connString, addr string) (string, error) {
	if _, err := Target(connString); err != nil {
		return "", err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("dblatency: %w", err)
	}
	if strings.HasPrefix(connString, "postgres://") || strings.HasPrefix(connString, "postgresql://") {
		u, err := url.Parse(connString)
		if err != nil {
			return "", fmt.Errorf("dblatency: parse connection URL: %w", err)
		}
		u.Host = addr
		// A socket directory may also come as ?host=/dir: the URL's
		// authority must be the only address left.
		if q := u.Query(); q.Has("host") || q.Has("hostaddr") || q.Has("port") {
			q.Del("host")
			q.Del("hostaddr")
			q.Del("port")
			u.RawQuery = q.Encode()
		}
		return u.String(), nil
	}
	settings, err := keywordSettings(connString)
	if err != nil {
		return "", err
	}
	kept := make([]string, 0, len(settings)+2)
	for _, s := range settings {
		switch s.key {
		case "host", "hostaddr", "port":
		default:
			kept = append(kept, s.raw)
		}
	}
	kept = append(kept, "host="+host, "port="+port)
	return strings.Join(kept, " "), nil
}

// keywordSetting is one key=value of a keyword connection string, with its
// original text (quotes and escapes as written).
type keywordSetting struct {
	key string
	raw string
}

// keywordSettings splits a keyword=value connection string the way libpq
// (and pgconn) read it, keeping each setting's text as written so the
// settings the rewrite keeps are byte for byte the caller's.
func keywordSettings(s string) ([]keywordSetting, error) {
	const space = " \t\n\r\v\f"
	var out []keywordSetting
	s = strings.TrimLeft(s, space)
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return nil, errors.New("dblatency: invalid keyword=value connection string")
		}
		key := strings.Trim(s[:eq], space)
		rest := strings.TrimLeft(s[eq+1:], space)
		end := 0
		if len(rest) > 0 && rest[0] == '\'' {
			end = 1
			for ; end < len(rest) && rest[end] != '\''; end++ {
				if rest[end] == '\\' {
					end++
				}
			}
			if end >= len(rest) {
				return nil, errors.New("dblatency: unterminated quoted value in connection string")
			}
			end++ // the closing quote
		} else {
			for ; end < len(rest) && !strings.ContainsRune(space, rune(rest[end])); end++ {
				if rest[end] == '\\' {
					end++
				}
			}
			end = min(end, len(rest))
		}
		out = append(out, keywordSetting{key: key, raw: key + "=" + rest[:end]})
		s = strings.TrimLeft(rest[end:], space)
	}
	return out, nil
}
