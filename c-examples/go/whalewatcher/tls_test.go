package whalewatcher

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Docker over TLS against a Docker API (as far as a watcher asks) served
// by this process with crypto/tls, which demands a client certificate
// signed by its CA, as dockerd --tlsverify does.

// testCA signs certificates for the tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func certTemplate(name string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	return &x509.Certificate{
		SerialNumber: serial.Add(serial, big.NewInt(1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

// issue makes a certificate and key signed by the CA: for a server at
// 127.0.0.1 and localhost, or for a client; both in PEM.
func (ca *testCA) issue(t *testing.T, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := certTemplate(name)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
}

// tlsFiles are a client's PEM files, as Options take them.
type tlsFiles struct{ ca, cert, key string }

func (f tlsFiles) options(endpoint string) Options {
	return Options{Engine: Docker, Endpoint: endpoint, TLSCA: f.ca, TLSCert: f.cert, TLSKey: f.key}
}

// clientFiles writes the CA's certificate and a client certificate and key
// it signed into a directory of their own.
func (ca *testCA) clientFiles(t *testing.T) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	cert, key := ca.issue(t, "wwgo-client", false)
	f := tlsFiles{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for path, data := range map[string][]byte{f.ca: ca.pem, f.cert: cert, f.key: key} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// tlsDocker serves the fake Docker API on 127.0.0.1 over TLS with a
// certificate of ca, requiring client certificates signed by ca; it
// returns HOST:PORT and stops at the end of the test.
func tlsDocker(t *testing.T, ca *testCA) string {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, "wwgo-daemon", true)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(fakeDockerAPI), ErrorLog: discardLog()}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String()
}

// discardLog swallows the server's complaints about the handshakes that
// the failure tests make fail.
func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// A watcher of Docker over TLS, at https:// and at tcp:// with TLS files.
func TestDockerOverTLS(t *testing.T) {
	ca := newTestCA(t, "wwgo-ca")
	addr := tlsDocker(t, ca)
	files := ca.clientFiles(t)
	for _, endpoint := range []string{"https://" + addr, "tcp://" + addr} {
		w := readyWatcher(t, files.options(endpoint))
		e := onlyEngine(t, w.Portfolio())
		// TLS files make a tcp:// endpoint a TLS one, shown as https://.
		if e.Kind != Docker || e.ID != "wwgo-fake" || e.Version != "0.0.0-wwgo" || e.Endpoint != "https://"+addr ||
			e.PID != 0 || e.Repairs != 0 {
			t.Errorf("%s: engine %+v", endpoint, e)
		}
		checkSynced(t, e)
		w.Close()
	}
}

// What goes wrong with TLS is said, once the watcher gives up, in Ready's
// error (and the engine's LastError).
func TestDockerOverTLSFailures(t *testing.T) {
	ca := newTestCA(t, "wwgo-ca")
	addr := tlsDocker(t, ca)
	good := ca.clientFiles(t)
	other := newTestCA(t, "wwgo-other-ca").clientFiles(t)
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	_ = l.Close()

	for _, tc := range []struct {
		name string
		opts Options
		says []string
	}{
		{"nobody listening", good.options("https://" + closed), []string{"https://" + closed, "Connection refused"}},
		{"CA file missing", tlsFiles{ca: "/nonexistent/wwgo-ca.pem", cert: good.cert, key: good.key}.options("https://" + addr),
			[]string{"CA certificate /nonexistent/wwgo-ca.pem"}},
		{"key not PEM", tlsFiles{ca: good.ca, cert: good.cert, key: good.ca}.options("https://" + addr),
			[]string{"client key " + good.ca, "no PEM PRIVATE KEY"}},
		{"daemon certificate of another CA", tlsFiles{ca: other.ca, cert: good.cert, key: good.key}.options("https://" + addr),
			[]string{"not signed by the CA given"}},
		{"client certificate of another CA", tlsFiles{ca: good.ca, cert: other.cert, key: other.key}.options("https://" + addr),
			[]string{"did not accept the client certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Backoff = BackoffNone
			w, err := New(tc.opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer w.Close()
			err = w.ReadyWithin(20 * time.Second)
			if !errors.Is(err, ErrEngine) {
				t.Fatalf("Ready: %v, want ErrEngine", err)
			}
			e := onlyEngine(t, w.Portfolio())
			for _, s := range tc.says {
				if !strings.Contains(err.Error(), s) || !strings.Contains(e.LastError, s) {
					t.Errorf("%q not in the error %q or the engine's %q", s, err, e.LastError)
				}
			}
			if e.State != GaveUp {
				t.Errorf("engine %+v", e)
			}
			t.Logf("%v", err)
		})
	}
}
