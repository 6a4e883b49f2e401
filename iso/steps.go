package iso

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// buildStep is one phase of a build.
type buildStep struct {
	name string
	// key names the step in the record of measured build times and in the build log.
	key string
	// artifact is the cached file the step produces ("" for a step that always runs).
	artifact string
	// estimate is how long building the artifact takes on a 2-core machine of ours.
	estimate time.Duration
	// lane places the step: a run of consecutive steps with lanes starts every lane at
	// once, each lane running its steps in order (laneAlone runs once all earlier steps
	// are done).
	lane int
	run  func(ctx context.Context) error
}

// The lanes of a build. Kubernetes is the longest compile by far, so it has a lane of its
// own from the first second; everything else (module downloads, the smaller compiles, the
// root filesystem) goes one after another beside it, using the cores its compile leaves
// idle while it downloads modules or links. On 2 cores this takes a first build from the
// sum of the steps to about the Kubernetes compile.
const (
	laneAlone = iota
	laneKubernetes
	laneOthers
)

// runSteps runs the steps, reporting each in the order given. A step that has to build
// says how long that took here last time (or its estimate), and the time it takes is
// recorded. The first failure stops every step still running and is the error returned.
func (b *Builder) runSteps(ctx context.Context, steps []buildStep) error {
	times := loadBuildTimes(b.CacheDir)
	for i := 0; i < len(steps); {
		j := i + 1
		if steps[i].lane != laneAlone {
			for j < len(steps) && steps[j].lane != laneAlone {
				j++
			}
		}
		if err := b.runStretch(ctx, times, steps[i:j]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// stepRun is one step of a stretch while it runs.
type stepRun struct {
	step     buildStep
	building bool
	done     chan struct{}
	err      error
	took     time.Duration
	// detail is the step's last progress, shown while the step is the one on screen.
	detail string
	shown  bool
}

// runStretch runs steps that share no dependency, each lane in a goroutine of its own, and
// reports them one at a time in order; the progress of a step not on screen is kept and
// shown when its turn comes.
func (b *Builder) runStretch(parent context.Context, times buildTimes, steps []buildStep) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	var (
		reportMu sync.Mutex // the Reporter sees one call at a time
		logMu    sync.Mutex // the log sees one line at a time
		failMu   sync.Mutex
		failed   *stepRun // the first step that failed, the cause of any later failure
		wg       sync.WaitGroup
	)
	runs := make([]*stepRun, len(steps))
	var laneOrder []int
	lanes := map[int][]*stepRun{}
	for i, s := range steps {
		runs[i] = &stepRun{step: s, building: s.artifact != "" && !exists(s.artifact), done: make(chan struct{})}
		if _, ok := lanes[s.lane]; !ok {
			laneOrder = append(laneOrder, s.lane)
		}
		lanes[s.lane] = append(lanes[s.lane], runs[i])
	}
	sideBySide := len(lanes) > 1
	for _, lane := range laneOrder {
		wg.Add(1)
		go func(queue []*stepRun) {
			defer wg.Done()
			for _, r := range queue {
				if err := ctx.Err(); err != nil { // stopped by a failure elsewhere
					r.err = err
					close(r.done)
					continue
				}
				out := stepOutput{progress: func(detail string) {
					reportMu.Lock()
					defer reportMu.Unlock()
					r.detail = detail
					if r.shown {
						b.progress(detail)
					}
				}}
				var lines *linePrefixer
				if sideBySide {
					lines = &linePrefixer{mu: &logMu, w: b.log(), prefix: "[" + r.step.key + "] "}
					out.log = lines
				}
				began := time.Now()
				r.err = r.step.run(withStepOutput(ctx, out))
				r.took = time.Since(began)
				if lines != nil {
					lines.flush()
				}
				if r.err != nil {
					failMu.Lock()
					if failed == nil {
						failed = r
					}
					failMu.Unlock()
					cancel()
				}
				close(r.done)
			}
		}(lanes[lane])
	}
	defer wg.Wait()

	for _, r := range runs {
		name := r.step.name
		if r.building {
			name += " (" + times.expect(r.step.key, r.step.estimate) + ")"
		}
		reportMu.Lock()
		if b.Report != nil {
			b.Report.Step(name)
		}
		r.shown = true
		if r.detail != "" {
			b.progress(r.detail)
		}
		reportMu.Unlock()
		<-r.done
		err := r.err
		failMu.Lock()
		cause := failed
		failMu.Unlock()
		if parent.Err() != nil {
			cause = nil // interrupted: every step stopped for that, none for another
		}
		if err != nil && cause != nil && cause != r {
			err = fmt.Errorf("%w: stopped because %q failed", errStoppedByOther, cause.step.name)
		}
		reportMu.Lock()
		r.shown = false
		if b.Report != nil {
			b.Report.Done(err)
		}
		reportMu.Unlock()
		if err != nil {
			if cause != nil && cause != r {
				// Say which step failed, and why, on a line of its own.
				reportMu.Lock()
				if b.Report != nil {
					b.Report.Step(cause.step.name)
					b.Report.Done(cause.err)
				}
				reportMu.Unlock()
				return cause.err
			}
			return err
		}
		if r.building {
			times.record(b.CacheDir, r.step.key, r.took)
		}
	}
	return nil
}

var errStoppedByOther = errors.New("stopped")

// stepOutput is where a running step reports: its progress, and its tools' output when
// it runs beside other steps (nil: the build log as it is).
type stepOutput struct {
	progress func(detail string)
	log      io.Writer
}

type stepOutputKey struct{}

func withStepOutput(ctx context.Context, out stepOutput) context.Context {
	return context.WithValue(ctx, stepOutputKey{}, out)
}

// progressFor is how the step running under ctx reports progress.
func (b *Builder) progressFor(ctx context.Context) func(string) {
	if out, ok := ctx.Value(stepOutputKey{}).(stepOutput); ok && out.progress != nil {
		return out.progress
	}
	return b.progress
}

// logFor is where the tools of the step running under ctx write.
func (b *Builder) logFor(ctx context.Context) io.Writer {
	if out, ok := ctx.Value(stepOutputKey{}).(stepOutput); ok && out.log != nil {
		return out.log
	}
	return b.log()
}

// linePrefixer writes whole lines, each starting with prefix, so the output of steps
// running side by side stays readable in one log.
type linePrefixer struct {
	mu      *sync.Mutex
	w       io.Writer
	prefix  string
	partial []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.writeLine(l.partial[:i+1])
		l.partial = l.partial[i+1:]
	}
}

// flush writes a last line that has no newline.
func (l *linePrefixer) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.writeLine(append(l.partial, '\n'))
		l.partial = nil
	}
}

func (l *linePrefixer) writeLine(line []byte) {
	// A log that cannot be written only loses lines; the step's own errors still quote
	// the tool's last lines.
	_, _ = io.WriteString(l.w, l.prefix)
	_, _ = l.w.Write(line)
}
