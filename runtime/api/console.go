package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/braidhq/braid/runtime/api/ui"
)

// The web console (package ui) is served at /ui/ behind the same middleware
// as the API: Host, Origin and Content-Type checks and the bearer token. A
// browser cannot send a bearer token when it follows a link, so on a
// listener with a token the console's login form trades the token for a
// session cookie. The cookie is accepted for /ui/ only, is HttpOnly and
// SameSite=Strict (a cross-site request never carries it), and holds an
// HMAC of the token rather than the token, so the browser never stores the
// token itself.

// sessionCookie names the console's session cookie.
const sessionCookie = "braid_session"

func (s *Server) consoleRoutes() {
	s.mux.Handle("/ui/", ui.New(s.mux, ui.Options{Version: s.opts.Version, Login: s.opts.Token != ""}))
	s.mux.Handle("GET /ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently))
	s.mux.HandleFunc("POST /ui/login", s.login)
	s.mux.HandleFunc("POST /ui/logout", s.logout)
}

// session is the session cookie's value: an HMAC of the token, so a
// changed token ends every session.
func (s *Server) session() string {
	m := hmac.New(sha256.New, []byte(s.opts.Token))
	m.Write([]byte("braid console session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

// consoleOpen are the console's routes that need no token: the login form,
// logging out (which only clears the cookie) and the static files.
func consoleOpen(path string) bool {
	return path == "/ui/login" || path == "/ui/logout" || strings.HasPrefix(path, "/ui/static/")
}

// consoleSession reports whether r is a console request with a valid
// session cookie.
func (s *Server) consoleSession(r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/ui/") {
		return false
	}
	c, err := r.Cookie(sessionCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.session())) == 1
}

// consoleLoginRedirect sends a browser that asks for a console page without
// a session to the login form.
func consoleLoginRedirect(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, "/ui/") {
		return false
	}
	if r.Header.Get("HX-Request") != "" {
		// An htmx poll whose session ended: reload the page, which redirects.
		w.Header().Set("HX-Redirect", "/ui/login")
		w.WriteHeader(http.StatusUnauthorized)
		return true
	}
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
	return true
}

// login checks the token posted by the console's login form (JSON
// {"token": "..."}) and sets the session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token == "" {
		w.Header().Set("HX-Redirect", "/ui/")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var body struct {
		Token string `json:"token"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if subtle.ConstantTimeCompare([]byte(body.Token), []byte(s.opts.Token)) != 1 {
		s.logger.Warn("console login with a wrong token", "remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`<p class="error" role="alert">That is not this server's token.</p>`))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.session(), Path: "/ui/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.opts.TLSCert != ""})
	w.Header().Set("HX-Redirect", "/ui/")
	w.WriteHeader(http.StatusNoContent)
}

// logout clears the session cookie (on this browser; the session value
// stays valid while the token does).
func (s *Server) logout(w http.ResponseWriter, _ *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.opts.TLSCert != ""})
	w.Header().Set("HX-Redirect", "/ui/login")
	w.WriteHeader(http.StatusNoContent)
}
