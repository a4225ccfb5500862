package spamruntest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// RedisTLSFiles are the PEM files of a server started with RedisTLS: the
// CA that signed both certificates, and the client certificate and its
// key, which the server requires.
type RedisTLSFiles struct {
	CA, Cert, Key string
	// ServerCert and ServerKey are the server's own.
	ServerCert, ServerKey string
}

// RedisTLS makes the server take only TLS connections, with a server
// certificate for 127.0.0.1 signed by a CA made for the test, and require
// a client certificate signed by the same CA: see TLSFiles.
func RedisTLS() RedisOption {
	return func(r *RedisServer) {
		r.tls = newRedisTLSFiles(r.tb)
		r.args = append(r.args, "--tls-cert-file", r.tls.ServerCert, "--tls-key-file", r.tls.ServerKey,
			"--tls-ca-cert-file", r.tls.CA, "--tls-auth-clients", "yes")
	}
}

// TLSFiles returns the PEM files of a server started with RedisTLS.
func (r *RedisServer) TLSFiles() RedisTLSFiles { return *r.tls }

// tlsConfig is the client side of RedisTLS, for ping.
func (f *RedisTLSFiles) tlsConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, ServerName: "127.0.0.1"}, nil
}

// newRedisTLSFiles writes a CA, a server certificate for 127.0.0.1 and a
// client certificate, with their keys, to a directory of the test.
func newRedisTLSFiles(tb testing.TB) *RedisTLSFiles {
	tb.Helper()
	dir := tb.TempDir()
	f := &RedisTLSFiles{
		CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "client.pem"), Key: filepath.Join(dir, "client.key"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server.key"),
	}
	caKey := newKey(tb)
	caTmpl := certTemplate(1, "spamrun test CA")
	caTmpl.IsCA, caTmpl.BasicConstraintsValid = true, true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, f.CA, "CERTIFICATE", caDER)

	srv := certTemplate(2, "127.0.0.1")
	srv.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	srv.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	signLeaf(tb, srv, ca, caKey, f.ServerCert, f.ServerKey)

	cli := certTemplate(3, "spamrun")
	cli.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	signLeaf(tb, cli, ca, caKey, f.Cert, f.Key)
	return f
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func certTemplate(serial int64, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// signLeaf signs tmpl with the CA and writes the certificate and its new
// key.
func signLeaf(tb testing.TB, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey, certFile, keyFile string) {
	tb.Helper()
	key := newKey(tb)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, certFile, "CERTIFICATE", der)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	writePEM(tb, keyFile, "PRIVATE KEY", keyDER)
}

func writePEM(tb testing.TB, path, typ string, der []byte) {
	tb.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
}
