package sdk

import (
	"reflect"
	"testing"
)

func TestRedactURLs(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://user:pw@host/x":                  "http://user:[hidden]@host/x",
		"https://u:p%40ss@h:8443?q=1":            "https://u:[hidden]@h:8443?q=1",
		"http://u:p@ss@host/":                    "http://u:[hidden]@host/",
		"http://host:8080/users/@me":             "http://host:8080/users/@me",
		"http://user@host/":                      "http://user@host/",
		"http://user:@host/":                     "http://user:@host/",
		"nats://a:1@h1:4222,nats://b:2@h2:4222":  "nats://a:[hidden]@h1:4222,nats://b:[hidden]@h2:4222",
		"http://u:pw@h/{{.Key}} and ftp://x:y@z": "http://u:[hidden]@h/{{.Key}} and ftp://x:[hidden]@z",
		"no url here: a:b@c":                     "no url here: a:b@c",
		"://:x@":                                 "://:[hidden]@",
	} {
		if got := RedactURLs(in); got != want {
			t.Errorf("RedactURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactAndSecrets(t *testing.T) {
	t.Parallel()
	spec := Spec{Name: "s", Kind: KindSink, Summary: "s", Fields: []Field{
		{Name: "url", Type: TypeString, Doc: "u"},
		{Name: "urls", Type: TypeList, Doc: "u"},
		{Name: "token", Type: TypeString, Secret: true, Doc: "t"},
	}}
	raw := map[string]any{"url": "http://u:pw1@h", "urls": []any{"http://u:pw2@h"}, "token": "tok", "n": 3}
	want := map[string]any{"url": "http://u:[hidden]@h", "urls": []any{"http://u:[hidden]@h"}, "token": Hidden, "n": 3}
	if got := spec.Redact(raw); !reflect.DeepEqual(got, want) {
		t.Errorf("Redact = %v, want %v", got, want)
	}
	got := map[string]bool{}
	for _, s := range spec.Secrets(raw) {
		got[s] = true
	}
	if !reflect.DeepEqual(got, map[string]bool{"pw1": true, "pw2": true, "tok": true}) {
		t.Errorf("Secrets = %v", got)
	}
}
