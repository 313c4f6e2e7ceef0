package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func newBaseline(ctx context.Context, driver string, raw json.RawMessage) (Baseline, error) {
	switch driver {
	case "s3":
		var c struct{ Endpoint, Bucket, AccessKey, SecretKey string }
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, err
		}
		return newS3(ctx, c.Endpoint, c.Bucket, c.AccessKey, c.SecretKey)
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
