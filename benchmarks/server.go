//go:build postgres || redis

package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is wrapped by the error of StartPostgres or StartRedis
// when the server's binaries are missing.
var ErrNotInstalled = errors.New("install the servers with: apt-get install postgresql redis-server")

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = time.Minute

// server is a database server process that this process started and owns,
// in a temporary directory that it removes when the process has stopped.
type server struct {
	name string
	dir  string
	log  *os.File // the process's stdout and stderr, in dir
	cmd  *exec.Cmd
	sig  os.Signal // asks the server to stop

	done chan struct{} // closed when the process has exited
	err  error         // the process's exit, set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// newServerDir makes the temporary directory of a server named name. If
// cred is not nil the directory is given to that user.
func newServerDir(name string, cred *syscall.Credential) (string, error) {
	dir, err := os.MkdirTemp("", "abandoned-"+name+"-")
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// startServer runs path with args as the server in dir (as the user of cred
// if not nil), logging to dir/server.log; sig stops it. The process is
// killed if this process dies first (on Linux). The caller owns dir from
// then on through the server: stop removes it.
func startServer(name, dir string, cred *syscall.Credential, sig os.Signal, path string, args ...string) (*server, error) {
	log, err := os.OpenFile(dir+"/server.log", os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	setDeathSignal(cmd.SysProcAttr, sig)
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &server{name: name, dir: dir, log: log, cmd: cmd, sig: sig, done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// waitReady calls ready until it succeeds, the server exits, or ctx or
// startTimeout ends.
func (s *server) waitReady(ctx context.Context, ready func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it accepted connections (%v):\n%s", s.name, s.err, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s did not accept connections: %w (last: %v):\n%s", s.name, ctx.Err(), err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logTail returns the end of the server's log.
func (s *server) logTail() string {
	f, err := os.Open(s.log.Name())
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const tail = 4 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		f.Seek(fi.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return strings.TrimSpace(string(b))
}

// stop asks the server to stop, kills it if it has not within 30 s, and
// removes its directory. It is idempotent.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		select {
		case <-s.done:
			s.stopErr = fmt.Errorf("%s had exited (%v):\n%s", s.name, s.err, s.logTail())
		default:
			s.cmd.Process.Signal(s.sig)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				s.cmd.Process.Kill()
				<-s.done
				s.stopErr = fmt.Errorf("%s did not stop within 30 s of %v; killed", s.name, s.sig)
			}
		}
		s.log.Close()
		if err := os.RemoveAll(s.dir); err != nil && s.stopErr == nil {
			s.stopErr = err
		}
	})
	return s.stopErr
}
