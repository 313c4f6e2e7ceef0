// Command bench measures a driver plugin the way Argo's users meet it: the
// executor's Load and argo-server's OpenStream through Argo's own Go plugin
// client, beside a Go baseline doing the same transfer straight from the same
// backend with the library Argo's built-in driver uses. It prints one JSON
// record on stdout; bench/run.mjs starts the backends and makes the table.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"

	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v4/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v4/util/logging"
	"github.com/argoproj/argo-workflows/v4/workflow/artifacts/plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	artifactpb "github.com/argoproj/argo-workflows/v4/pkg/apiclient/artifact"
)

// Spec is what bench/run.mjs hands over for one driver.
type Spec struct {
	Driver        string            `json:"driver"`
	Command       []string          `json:"command"`
	Env           map[string]string `json:"env"`
	Configuration string            `json:"configuration"`
	SizeBytes     int64             `json:"sizeBytes"`
	Rounds        int               `json:"rounds"`
	Startups      int               `json:"startups"`
	// Concurrent OpenStreams of one small object (0 to skip), for peak RSS under a busy UI.
	Concurrent      int             `json:"concurrent"`
	ConcurrentBytes int64           `json:"concurrentBytes"`
	Baseline        json.RawMessage `json:"baseline"`
	// Sample, when set, is a second plugin measured beside the first in the
	// same rounds (S3: Argo's Go sample plugin, bench/go-sample-plugin.sh).
	Sample *Sample `json:"sample,omitempty"`
}

type Sample struct {
	Command       []string          `json:"command"`
	Env           map[string]string `json:"env"`
	Configuration string            `json:"configuration"`
}

// Baseline is the direct side: the backend's Go library, no plugin.
type Baseline interface {
	// Put stores the local file at key (setup, not measured).
	Put(ctx context.Context, key, path string) error
	// Get writes the object at key to w.
	Get(ctx context.Context, key string, w io.Writer) (int64, error)
}

// Figures of one measured operation.
type Figures struct {
	Seconds    float64 `json:"seconds"`
	MBps       float64 `json:"mbps"`
	CPUSeconds float64 `json:"cpuSeconds"`
	CPUPerGiB  float64 `json:"cpuPerGiB"`
	PeakRSSMiB float64 `json:"peakRssMiB,omitempty"`
}

type Record struct {
	Driver     string               `json:"driver"`
	SizeBytes  int64                `json:"sizeBytes"`
	Rounds     int                  `json:"rounds"`
	Startup    map[string]float64   `json:"startupMs"`
	Operations map[string][]Figures `json:"operations"`
	Median     map[string]Figures   `json:"median"`
	Concurrent map[string]float64   `json:"concurrent,omitempty"`
	LongLived  map[string]float64   `json:"longLived"`
	// The sample plugin's figures beside the plugin's; its transfers are in Operations as "sample ...".
	Sample *SampleRecord `json:"sample,omitempty"`
}

type SampleRecord struct {
	Startup    map[string]float64 `json:"startupMs"`
	Concurrent map[string]float64 `json:"concurrent,omitempty"`
	LongLived  map[string]float64 `json:"longLived"`
}

func main() {
	specPath := flag.String("spec", "", "JSON spec file")
	flag.Parse()
	if err := run(*specPath); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(specPath string) error {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", specPath, err)
	}
	ctx := logging.WithLogger(context.Background(), logging.NewSlogLoggerCustom(logging.Error, logging.Text, os.Stderr))
	base, err := newBaseline(ctx, spec.Driver, spec.Baseline)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	const key = "bench/object.bin"
	const savedKey = "bench/saved.bin"
	source := filepath.Join(work, "source.bin")
	if err := randomFile(source, spec.SizeBytes); err != nil {
		return err
	}
	if err := base.Put(ctx, key, source); err != nil {
		return fmt.Errorf("baseline put: %w", err)
	}
	rec := Record{Driver: spec.Driver, SizeBytes: spec.SizeBytes, Rounds: spec.Rounds,
		Operations: map[string][]Figures{}, Median: map[string]Figures{}, LongLived: map[string]float64{}}
	if rec.Startup, err = startups(ctx, spec, work, key); err != nil {
		return err
	}

	proc, drv, err := launch(ctx, spec, filepath.Join(work, "run"))
	if err != nil {
		return err
	}
	defer proc.stop()
	var sample sampleRun
	if spec.Sample != nil {
		sample.spec = spec
		sample.spec.Command, sample.spec.Env, sample.spec.Configuration = spec.Sample.Command, spec.Sample.Env, spec.Sample.Configuration
		rec.Sample = &SampleRecord{LongLived: map[string]float64{}}
		if rec.Sample.Startup, err = startups(ctx, sample.spec, work, key); err != nil {
			return fmt.Errorf("sample plugin: %w", err)
		}
		if sample.proc, sample.drv, err = launch(ctx, sample.spec, filepath.Join(work, "sample")); err != nil {
			return fmt.Errorf("sample plugin: %w", err)
		}
		defer sample.proc.stop()
	}
	target := filepath.Join(work, "loaded.bin")
	type op struct {
		name string
		proc *process // the plugin process measured, nil for the direct side
		do   func() (int64, error)
	}
	// Each plugin transfer, for the plugin and (when set) the sample plugin after it.
	plugins := func(name string, do func(spec Spec, drv *plugin.Driver) (int64, error)) []op {
		all := []op{{"plugin " + name, proc, func() (int64, error) { return do(spec, drv) }}}
		if sample.proc != nil {
			all = append(all, op{"sample " + name, sample.proc, func() (int64, error) { return do(sample.spec, sample.drv) }})
		}
		return all
	}
	ops := slices.Concat(
		[]op{{"direct Load", nil, func() (int64, error) { return getToFile(ctx, base, key, target) }}},
		plugins("Load", func(spec Spec, drv *plugin.Driver) (int64, error) {
			if err := drv.Load(ctx, artifact(spec, key), target); err != nil {
				return 0, err
			}
			st, err := os.Stat(target)
			if err != nil {
				return 0, err
			}
			return st.Size(), os.Remove(target)
		}),
		[]op{
			{"direct read", nil, func() (int64, error) { return base.Get(ctx, key, io.Discard) }},
			// Saves go to their own key, so the object the reads use is never replaced.
			{"direct Save", nil, func() (int64, error) { return spec.SizeBytes, base.Put(ctx, savedKey, source) }},
		},
		plugins("Save", func(spec Spec, drv *plugin.Driver) (int64, error) {
			return spec.SizeBytes, drv.Save(ctx, source, artifact(spec, savedKey))
		}),
		plugins("OpenStream", func(spec Spec, drv *plugin.Driver) (int64, error) {
			r, err := drv.OpenStream(ctx, artifact(spec, key))
			if err != nil {
				return 0, err
			}
			defer r.Close()
			return io.Copy(io.Discard, r)
		}),
	)
	// One unmeasured pass warms the backend, the page cache and the plugin's adapter.
	for _, op := range ops {
		if _, err := op.do(); err != nil {
			return fmt.Errorf("%s (warm-up): %w", op.name, err)
		}
	}
	for range spec.Rounds {
		for _, op := range ops {
			fmt.Fprintf(os.Stderr, "bench: %s %s\n", spec.Driver, op.name)
			f, err := measure(op.proc, spec.SizeBytes, op.do)
			if err != nil {
				return fmt.Errorf("%s: %w", op.name, err)
			}
			rec.Operations[op.name] = append(rec.Operations[op.name], f)
		}
	}
	for name, all := range rec.Operations {
		rec.Median[name] = median(all)
	}
	if spec.Concurrent > 0 {
		if rec.Concurrent, err = concurrent(ctx, spec, proc, drv, base, work); err != nil {
			return err
		}
	}
	rec.LongLived["peakRssMiB"] = proc.status("VmHWM") / 1024
	rec.LongLived["rssMiB"] = proc.status("VmRSS") / 1024
	if sample.proc != nil {
		if spec.Concurrent > 0 {
			if rec.Sample.Concurrent, err = concurrent(ctx, sample.spec, sample.proc, sample.drv, base, work); err != nil {
				return fmt.Errorf("sample plugin: %w", err)
			}
		}
		rec.Sample.LongLived["peakRssMiB"] = sample.proc.status("VmHWM") / 1024
		rec.Sample.LongLived["rssMiB"] = sample.proc.status("VmRSS") / 1024
	}
	return json.NewEncoder(os.Stdout).Encode(rec)
}

func artifact(spec Spec, key string) *wfv1.Artifact {
	return &wfv1.Artifact{Name: "bench", ArtifactLocation: wfv1.ArtifactLocation{Plugin: &wfv1.PluginArtifact{
		Name: wfv1.ArtifactPluginName(spec.Driver + "-bench"), Configuration: spec.Configuration, Key: key,
		ConnectionTimeoutSeconds: 30,
	}}}
}

type sampleRun struct {
	spec Spec
	proc *process
	drv  *plugin.Driver
}

// measure times one transfer; proc is the plugin process doing it, nil for the direct side.
func measure(proc *process, size int64, do func() (int64, error)) (Figures, error) {
	pluginOp := proc != nil
	var cpu0 float64
	if pluginOp {
		proc.resetPeak()
		cpu0 = proc.cpu()
	}
	self0 := selfCPU()
	start := time.Now()
	n, err := do()
	elapsed := time.Since(start).Seconds()
	if err != nil {
		return Figures{}, err
	}
	if n != size {
		return Figures{}, fmt.Errorf("moved %d bytes, expected %d", n, size)
	}
	f := Figures{Seconds: elapsed, MBps: float64(size) / 1e6 / elapsed}
	if pluginOp {
		f.CPUSeconds = proc.cpu() - cpu0
		f.PeakRSSMiB = proc.status("VmHWM") / 1024
	} else {
		f.CPUSeconds = selfCPU() - self0
	}
	f.CPUPerGiB = f.CPUSeconds / (float64(size) / (1 << 30))
	return f, nil
}

func median(all []Figures) Figures {
	pick := func(get func(Figures) float64) float64 {
		values := make([]float64, len(all))
		for i, f := range all {
			values[i] = get(f)
		}
		slices.Sort(values)
		return values[len(values)/2]
	}
	return Figures{
		Seconds:    pick(func(f Figures) float64 { return f.Seconds }),
		MBps:       pick(func(f Figures) float64 { return f.MBps }),
		CPUSeconds: pick(func(f Figures) float64 { return f.CPUSeconds }),
		CPUPerGiB:  pick(func(f Figures) float64 { return f.CPUPerGiB }),
		PeakRSSMiB: pick(func(f Figures) float64 { return f.PeakRSSMiB }),
	}
}

// startups starts the plugin afresh several times: process start to the
// socket accepting a connection, and to the first answered IsDirectory
// (configuration parsed, SDK loaded, one request to the backend).
func startups(ctx context.Context, spec Spec, work, key string) (map[string]float64, error) {
	var toSocket, toFirst []float64
	for i := range max(spec.Startups, 1) {
		socket := filepath.Join(work, fmt.Sprintf("s%d", i), "socket")
		start := time.Now()
		proc, err := start1(spec, socket)
		if err != nil {
			return nil, err
		}
		var conn net.Conn
		for deadline := start.Add(30 * time.Second); ; {
			if conn, err = net.Dial("unix", socket); err == nil {
				break
			}
			if time.Now().After(deadline) {
				proc.stop()
				return nil, fmt.Errorf("the socket never accepted: %w\n%s", err, proc.output())
			}
			time.Sleep(time.Millisecond)
		}
		toSocket = append(toSocket, float64(time.Since(start).Microseconds())/1000)
		_ = conn.Close()
		client, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			proc.stop()
			return nil, err
		}
		answer, err := artifactpb.NewArtifactServiceClient(client).IsDirectory(ctx, &artifactpb.IsDirectoryRequest{
			Artifact: &artifactpb.Artifact{Name: "bench", Plugin: &artifactpb.PluginArtifact{
				Name: spec.Driver + "-bench", Configuration: spec.Configuration, Key: key}},
		})
		took := float64(time.Since(start).Microseconds()) / 1000
		_ = client.Close()
		proc.stop()
		if err != nil || answer.Error != "" {
			return nil, fmt.Errorf("first IsDirectory: %v %s\n%s", err, answer.GetError(), proc.output())
		}
		toFirst = append(toFirst, took)
	}
	slices.Sort(toSocket)
	slices.Sort(toFirst)
	return map[string]float64{"toSocket": toSocket[len(toSocket)/2], "toFirstCall": toFirst[len(toFirst)/2]}, nil
}

// concurrent opens many OpenStreams of one small object at once, as a busy
// UI does, and reports the plugin's peak RSS during them.
func concurrent(ctx context.Context, spec Spec, proc *process, drv *plugin.Driver, base Baseline, work string) (map[string]float64, error) {
	const key = "bench/small.bin"
	path := filepath.Join(work, "small.bin")
	if err := randomFile(path, spec.ConcurrentBytes); err != nil {
		return nil, err
	}
	if err := base.Put(ctx, key, path); err != nil {
		return nil, err
	}
	art := artifact(spec, key)
	proc.resetPeak()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, spec.Concurrent)
	for range spec.Concurrent {
		wg.Go(func() {
			r, err := drv.OpenStream(ctx, art)
			if err == nil {
				var n int64
				n, err = io.Copy(io.Discard, r)
				_ = r.Close()
				if err == nil && n != spec.ConcurrentBytes {
					err = fmt.Errorf("a concurrent stream read %d bytes of %d", n, spec.ConcurrentBytes)
				}
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return nil, err
	}
	return map[string]float64{
		"streams": float64(spec.Concurrent), "objectMiB": float64(spec.ConcurrentBytes) / (1 << 20),
		"seconds": time.Since(start).Seconds(), "peakRssMiB": proc.status("VmHWM") / 1024,
	}, nil
}

func getToFile(ctx context.Context, base Baseline, key, target string) (int64, error) {
	f, err := os.Create(target)
	if err != nil {
		return 0, err
	}
	n, err := base.Get(ctx, key, f)
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Remove(target)
	}
	return n, err
}

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	block := make([]byte, 1<<20)
	rng := rand.NewChaCha8([32]byte{1})
	for left := size; left > 0; left -= int64(len(block)) {
		_, _ = rng.Read(block)
		if _, err := f.Write(block[:min(left, int64(len(block)))]); err != nil {
			return err
		}
	}
	return f.Close()
}

func selfCPU() float64 {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Nano()+u.Stime.Nano()) / 1e9
}

func launch(ctx context.Context, spec Spec, dir string) (*process, *plugin.Driver, error) {
	socket := filepath.Join(dir, "socket")
	proc, err := start1(spec, socket)
	if err != nil {
		return nil, nil, err
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			proc.stop()
			return nil, nil, fmt.Errorf("no socket after 30 s\n%s", proc.output())
		}
	}
	drv, err := plugin.NewDriver(ctx, wfv1.ArtifactPluginName(spec.Driver+"-bench"), socket, 30*time.Second)
	if err != nil {
		proc.stop()
		return nil, nil, err
	}
	return proc, drv, nil
}
