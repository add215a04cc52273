package examples_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The syslog example: messages sent over TCP (octet-counted and one per
// line) and UDP reach the file sink with their parsed fields.
func TestSyslogExampleRuns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data, err := os.ReadFile("syslog/pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	port := freeTCPAndUDPPort(t)
	yaml := replaceAll(t, string(data), "127.0.0.1:5514", "127.0.0.1:"+port, "data/syslog/out", filepath.Join(dir, "out"))
	eng := startEngine(t, filepath.Join(dir, "log"))
	applyFile(t, eng, filepath.Join(dir, "pipeline.yaml"), []byte(yaml), nil)

	var tcp net.Conn
	deadline := time.Now().Add(30 * time.Second)
	for tcp == nil {
		if tcp, err = net.Dial("tcp", "127.0.0.1:"+port); err != nil && time.Now().After(deadline) {
			t.Fatalf("the tcp source does not listen: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer tcp.Close()
	m5424 := `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3"] An application event`
	fmt.Fprintf(tcp, "%d %s<34>Oct 11 22:14:15 router link: down on eth0\n", len(m5424), m5424)
	udp, err := net.Dial("udp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()

	type msg struct {
		Format, Host, App, Message string
		StructuredData             map[string]map[string]string `json:"structured_data"`
	}
	byHost := map[string]msg{}
	for len(byHost) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the sink has messages of %d of 3 hosts: %+v", len(byHost), byHost)
		}
		// UDP may be sent before the socket is bound: send until it arrives.
		_, _ = fmt.Fprint(udp, "<13>1 2026-12-03T06:00:00Z host3 app - - - over udp")
		time.Sleep(50 * time.Millisecond)
		for _, m := range readJSONLines[msg](t, filepath.Join(dir, "out", "*.jsonl")) {
			byHost[m.Host] = m
		}
	}
	if m := byHost["mymachine.example.com"]; m.Format != "rfc5424" || m.App != "evntslog" || m.StructuredData["exampleSDID@32473"]["iut"] != "3" {
		t.Errorf("rfc5424 message: %+v", m)
	}
	if m := byHost["router"]; m.Format != "rfc3164" || m.App != "link" || m.Message != "down on eth0" {
		t.Errorf("rfc3164 message: %+v", m)
	}
	if m := byHost["host3"]; m.Message != "over udp" {
		t.Errorf("udp message: %+v", m)
	}
}

// freeTCPAndUDPPort returns a loopback port free for both TCP and UDP.
func freeTCPAndUDPPort(t *testing.T) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+port)
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP")
	return ""
}
