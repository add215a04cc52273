package api

import (
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// A web page the user opens can send "simple" cross-site requests to the
// loopback API without a preflight: POSTs with a text/plain, form or
// multipart body, carrying an Origin header. With DNS rebinding the page's
// own name resolves to 127.0.0.1 and the request carries its Host. The
// checks below refuse all three, so a browser can reach the API only from a
// page the API itself would serve.

// bodyTypes are the media types a state-changing request may carry: JSON
// (any +json type, which covers the schema registry's
// application/vnd.schemaregistry.v1+json) and YAML pipeline files. None of
// them is one a browser sends cross-site without a preflight.
var bodyTypes = map[string]bool{
	"application/json":   true,
	"application/yaml":   true,
	"application/x-yaml": true,
	"text/yaml":          true,
	"text/x-yaml":        true,
}

// changes reports whether a method changes state.
func changes(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// checkContentType refuses a state-changing request whose body is not JSON
// or YAML. A request without a body (POST .../restart) needs no type.
func checkContentType(r *http.Request) (int, string) {
	if !changes(r.Method) {
		return 0, ""
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		if r.ContentLength == 0 {
			return 0, ""
		}
		return http.StatusUnsupportedMediaType, "a request body needs a Content-Type: application/json, or application/yaml for pipeline files"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (bodyTypes[mt] || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return 0, ""
	}
	return http.StatusUnsupportedMediaType, "Content-Type " + quote(ct) + " is not accepted: send application/json, or application/yaml for pipeline files"
}

// loopbackName reports whether host (without port) names this machine.
func loopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// hostname strips the port of a Host header or URL host.
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// checkHost refuses a Host header that does not name this machine (DNS
// rebinding). A listener beyond loopback has a token and answers to
// whatever name the operator put in front of it, so any Host is fine there.
func (s *Server) checkHost(r *http.Request) (int, string) {
	if !LoopbackOnly(s.opts.Addr) || loopbackName(hostname(r.Host)) {
		return 0, ""
	}
	return http.StatusForbidden, "Host " + quote(r.Host) + " is not this server's address: the API on loopback answers only to 127.0.0.1, [::1] and localhost"
}

// checkOrigin refuses a browser request sent by a page of another origin.
// The page's origin must be the request's own host (same origin) or a
// loopback name on the port the API listens on.
func (s *Server) checkOrigin(r *http.Request) (int, string) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return 0, ""
	}
	u, err := url.Parse(origin)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		if strings.EqualFold(u.Host, r.Host) {
			return 0, ""
		}
		_, port, _ := net.SplitHostPort(s.listenAddr())
		if loopbackName(u.Hostname()) && u.Port() == port {
			return 0, ""
		}
	}
	return http.StatusForbidden, "Origin " + quote(origin) + " may not call this API: cross-site requests are refused"
}

// listenAddr is the bound address once started, else the configured one.
func (s *Server) listenAddr() string {
	if a := s.Addr(); a != "" {
		return a
	}
	return s.opts.Addr
}

// quote bounds and quotes a header value for an error message.
func quote(v string) string {
	if len(v) > 100 {
		v = v[:100] + "..."
	}
	return strconv.Quote(v)
}
