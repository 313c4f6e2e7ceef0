package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
	"google.golang.org/api/option"
)

func newBaseline(ctx context.Context, driver string, raw json.RawMessage) (Baseline, error) {
	switch driver {
	case "s3":
		var c struct{ Endpoint, Bucket, AccessKey, SecretKey string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return newS3(ctx, c.Endpoint, c.Bucket, c.AccessKey, c.SecretKey)
	case "webdav":
		var c struct{ URL, Username, Password string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return webdavBaseline{url: strings.TrimSuffix(c.URL, "/"), user: c.Username, password: c.Password}, nil
	case "sftp":
		var c struct {
			Host                     string
			Port                     int
			Username, Password, Base string
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return newSFTP(c.Host, c.Port, c.Username, c.Password, c.Base)
	case "azure":
		var c struct{ Endpoint, Account, Key, Container string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return newAzure(ctx, c.Endpoint, c.Account, c.Key, c.Container)
	case "gcs":
		var c struct{ Endpoint, Bucket string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return newGCS(ctx, c.Endpoint, c.Bucket)
	case "local":
		var c struct{ Root string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return localBaseline{root: c.Root}, nil
	}
	return nil, fmt.Errorf("no Go baseline for driver %q", driver)
}

// s3Baseline is minio-go, the library of Argo's built-in S3 driver.
type s3Baseline struct {
	client *minio.Client
	bucket string
}

func newS3(ctx context.Context, endpoint, bucket, accessKey, secretKey string) (*s3Baseline, error) {
	host, secure := endpoint, false
	if rest, ok := cutScheme(endpoint, "http://"); ok {
		host = rest
	} else if rest, ok := cutScheme(endpoint, "https://"); ok {
		host, secure = rest, true
	}
	client, err := minio.New(host, &minio.Options{
		Creds: credentials.NewStaticV4(accessKey, secretKey, ""), Secure: secure, Region: "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, err
	}
	if exists, err := client.BucketExists(ctx, bucket); err != nil {
		return nil, err
	} else if !exists {
		if err := client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return nil, err
		}
	}
	return &s3Baseline{client: client, bucket: bucket}, nil
}

func cutScheme(s, scheme string) (string, bool) {
	if len(s) >= len(scheme) && s[:len(scheme)] == scheme {
		return s[len(scheme):], true
	}
	return s, false
}

func (b *s3Baseline) Put(ctx context.Context, key, path string) error {
	_, err := b.client.FPutObject(ctx, b.bucket, key, path, minio.PutObjectOptions{})
	return err
}

// Get is what Argo's S3 driver does for OpenStream (GetObject, read through);
// for Load it uses FGetObject, which is the same GET into a file.
func (b *s3Baseline) Get(ctx context.Context, key string, w io.Writer) (int64, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return 0, err
	}
	defer obj.Close()
	return io.Copy(w, obj)
}

// localBaseline copies files with the os package.
type localBaseline struct{ root string }

func (b localBaseline) Put(_ context.Context, key, path string) error {
	target := filepath.Join(b.root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(target)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func (b localBaseline) Get(_ context.Context, key string, w io.Writer) (int64, error) {
	f, err := os.Open(filepath.Join(b.root, filepath.FromSlash(key)))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return io.Copy(w, f)
}

// webdavBaseline is net/http: Argo has no WebDAV driver, and its HTTP
// artifact driver is net/http.
type webdavBaseline struct{ url, user, password string }

func (b webdavBaseline) do(ctx context.Context, method, key string, body io.Reader, size int64) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, b.url+"/"+key, body)
	if err != nil {
		return nil, err
	}
	req.ContentLength = size
	req.SetBasicAuth(b.user, b.password)
	return http.DefaultClient.Do(req)
}

func (b webdavBaseline) Put(ctx context.Context, key, path string) error {
	segments := strings.Split(key, "/")
	for i := 1; i < len(segments); i++ {
		resp, err := b.do(ctx, "MKCOL", strings.Join(segments[:i], "/")+"/", nil, 0)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	resp, err := b.do(ctx, http.MethodPut, key, f, st.Size())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("PUT %s: %s", key, resp.Status)
	}
	return nil
}

func (b webdavBaseline) Get(ctx context.Context, key string, w io.Writer) (int64, error) {
	resp, err := b.do(ctx, http.MethodGet, key, nil, 0)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", key, resp.Status)
	}
	return io.Copy(w, resp.Body)
}

// sftpBaseline is pkg/sftp, the library of Argo's built-in SFTP support.
type sftpBaseline struct {
	client *sftp.Client
	base   string
}

func newSFTP(host string, port int, user, password, base string) (*sftpBaseline, error) {
	conn, err := ssh.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)), &ssh.ClientConfig{
		User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
		// A loopback test server started for this run.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		return nil, err
	}
	client, err := sftp.NewClient(conn, sftp.UseConcurrentReads(true), sftp.UseConcurrentWrites(true))
	if err != nil {
		return nil, err
	}
	return &sftpBaseline{client: client, base: base}, nil
}

func (b *sftpBaseline) Put(_ context.Context, key, path string) error {
	target := b.base + "/" + key
	if err := b.client.MkdirAll(target[:strings.LastIndex(target, "/")]); err != nil {
		return err
	}
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := b.client.Create(target)
	if err != nil {
		return err
	}
	if _, err := dst.ReadFrom(src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

func (b *sftpBaseline) Get(_ context.Context, key string, w io.Writer) (int64, error) {
	f, err := b.client.Open(b.base + "/" + key)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	// WriteTo reads with concurrent requests, as pkg/sftp users do for large files.
	return f.WriteTo(w)
}

// azureBaseline is azblob, the library of Argo's built-in Azure driver.
type azureBaseline struct {
	client    *azblob.Client
	container string
}

func newAzure(ctx context.Context, endpoint, account, key, container string) (*azureBaseline, error) {
	cred, err := azblob.NewSharedKeyCredential(account, key)
	if err != nil {
		return nil, err
	}
	client, err := azblob.NewClientWithSharedKeyCredential(endpoint, cred, nil)
	if err != nil {
		return nil, err
	}
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil, err
	}
	return &azureBaseline{client: client, container: container}, nil
}

func (b *azureBaseline) Put(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = b.client.UploadFile(ctx, b.container, key, f, &azblob.UploadFileOptions{BlockSize: 8 << 20, Concurrency: 4})
	return err
}

func (b *azureBaseline) Get(ctx context.Context, key string, w io.Writer) (int64, error) {
	resp, err := b.client.DownloadStream(ctx, b.container, key, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// gcsBaseline is cloud.google.com/go/storage, the library of Argo's built-in
// GCS driver, pointed at fake-gcs-server as its documentation says
// (STORAGE_EMULATOR_HOST, no authentication).
type gcsBaseline struct {
	bucket *storage.BucketHandle
}

func newGCS(ctx context.Context, endpoint, bucket string) (*gcsBaseline, error) {
	host, _ := cutScheme(endpoint, "http://")
	if err := os.Setenv("STORAGE_EMULATOR_HOST", host); err != nil {
		return nil, err
	}
	client, err := storage.NewClient(ctx, option.WithoutAuthentication(), storage.WithJSONReads())
	// Read once by NewClient; the plugins started later must not inherit it.
	_ = os.Unsetenv("STORAGE_EMULATOR_HOST")
	if err != nil {
		return nil, err
	}
	handle := client.Bucket(bucket)
	if err := handle.Create(ctx, "bench", nil); err != nil && !strings.Contains(err.Error(), "409") {
		return nil, err
	}
	return &gcsBaseline{bucket: handle}, nil
}

func (b *gcsBaseline) Put(ctx context.Context, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := b.bucket.Object(key).NewWriter(ctx)
	if _, err := io.Copy(w, f); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (b *gcsBaseline) Get(ctx context.Context, key string, w io.Writer) (int64, error) {
	r, err := b.bucket.Object(key).NewReader(ctx)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, r)
}
