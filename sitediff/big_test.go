package sitediff

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// phpTemplate is a typical plugin file, about 1.5 kB.
const phpTemplate = `<?php
/**
 * Component %[1]d of the plugin: renders and saves the settings.
 *
 * @package Plugin%[2]d
 */
if (!defined('ABSPATH')) {
	exit;
}

class Plugin%[2]d_Component%[1]d {
	private $options = array();

	public function __construct() {
		add_action('admin_init', array($this, 'register'));
		add_filter('the_content', array($this, 'filter'), 10, 1);
	}

	public function register() {
		register_setting('plugin%[2]d', 'plugin%[2]d_options', array($this, 'sanitize'));
		foreach (array('title', 'color', 'limit') as $field) {
			add_settings_field($field, ucfirst($field), array($this, 'field'), 'plugin%[2]d');
		}
	}

	public function sanitize($input) {
		if (!isset($_POST['_wpnonce']) || !wp_verify_nonce($_POST['_wpnonce'], 'plugin%[2]d')) {
			return array();
		}
		$out = array();
		$out['title'] = sanitize_text_field($input['title'] ?? '');
		$out['limit'] = absint($input['limit'] ?? 10);
		return $out;
	}

	public function filter($content) {
		if (is_singular() && in_the_loop()) {
			$content .= '<div class="plugin%[2]d">' . esc_html($this->options['title'] ?? '') . '</div>';
		}
		return $content;
	}
}
`

// generate writes a site of n files and its snapshot, in directories of
// 100 files: three in five PHP, the rest scripts, styles and images. It
// returns the path of the mailer planted among them.
func generate(tb testing.TB, n int) (site, snapshot, mailer string) {
	tb.Helper()
	return generateIn(tb, tb.TempDir(), n)
}

func generateIn(tb testing.TB, base string, n int) (site, snapshot, mailer string) {
	tb.Helper()
	site, snapshot = filepath.Join(base, "site"), filepath.Join(base, "snapshot")
	const perDir = 100
	dirs := (n + perDir - 1) / perDir
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for d := range work {
				rel := fmt.Sprintf("wp-content/plugins/plugin%03d/includes/part%02d", d/20, d%20)
				if d%10 == 9 {
					rel = fmt.Sprintf("wp-content/uploads/%d/%02d", 2016+d/120%10, 1+d%12)
				}
				for _, root := range []string{site, snapshot} {
					if err := writeDir(root, rel, d, min(perDir, n-d*perDir)); err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				}
			}
		})
	}
	for d := range dirs {
		work <- d
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		tb.Fatal(err)
	default:
	}
	mailer = fmt.Sprintf("wp-content/uploads/%d/%02d/class-wp-cache.php", 2016+(dirs/2)/120%10, 1+(dirs/2)%12)
	writeFile(tb, site, mailer, obfuscatedMailer(), time.Now())
	return site, snapshot, mailer
}

func writeDir(root, rel string, d, files int) error {
	dir := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range files {
		var name, content string
		switch {
		case rel[11] == 'u': // uploads
			name, content = fmt.Sprintf("image%d-%03d.jpg", d, i), jpeg(uint64(d*1000 + i))[:600]
		case i%5 < 3:
			name, content = fmt.Sprintf("class-component%03d.php", i), fmt.Sprintf(phpTemplate, i, d)
		case i%5 == 3:
			name, content = fmt.Sprintf("script%03d.js", i), fmt.Sprintf("(function(){var n=%d;document.querySelectorAll('.p%d').forEach(function(e){e.hidden=!n});})();\n", i, d)
		default:
			name, content = fmt.Sprintf("style%03d.css", i), fmt.Sprintf(".p%d-%d { margin: 0 auto; padding: %dpx; }\n", d, i, i%20)
		}
		full := filepath.Join(dir, name)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(full, t0, t0); err != nil {
			return err
		}
	}
	return nil
}

// testTreeSize is the size of the generated tree in the test; the
// benchmark compares 100,000 files.
const testTreeSize = 20000

func TestCompareGeneratedTree(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 40,000 files")
	}
	site, snapshot, mailer := generate(t, testTreeSize)
	r, err := Compare(site, snapshot)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files in %v: %+v", r.Stats.SiteFiles, r.Stats.Elapsed, r.Stats)
	if len(r.Files) != 1 || r.Files[0].Path != mailer || r.Files[0].Change != New {
		t.Fatalf("listed %+v, want only %s", r.Files, mailer)
	}
	if st := r.Stats; st.SiteFiles != testTreeSize+1 || st.SnapshotFiles != testTreeSize || st.New != 1 || st.Hashed != 0 || st.Scanned < testTreeSize/2 {
		t.Errorf("stats %+v", st)
	}
}

// bigTree is the 100,000 files of the benchmarks, written once for all
// of them: writing takes far longer than comparing.
var bigTree struct {
	once                        sync.Once
	dir, site, snapshot, mailer string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigTree.dir != "" {
		os.RemoveAll(bigTree.dir)
	}
	os.Exit(code)
}

func benchTree(b *testing.B) (site, snapshot, mailer string) {
	bigTree.once.Do(func() {
		dir, err := os.MkdirTemp("", "sitediff-bench-")
		if err != nil {
			b.Fatal(err)
		}
		bigTree.dir = dir
		bigTree.site, bigTree.snapshot, bigTree.mailer = generateIn(b, dir, 100000)
	})
	if bigTree.site == "" {
		b.Fatal("no tree")
	}
	return bigTree.site, bigTree.snapshot, bigTree.mailer
}

func BenchmarkCompare100k(b *testing.B) {
	benchmarkCompare(b, nil)
}

// BenchmarkCompare100kContent hashes every pair of files of equal size,
// as --content does.
func BenchmarkCompare100kContent(b *testing.B) {
	benchmarkCompare(b, &Options{Content: true})
}

func benchmarkCompare(b *testing.B, o *Options) {
	site, snapshot, mailer := benchTree(b)
	var r *Report
	for b.Loop() {
		var err error
		r, err = CompareWithOptions(site, snapshot, o)
		if err != nil {
			b.Fatal(err)
		}
	}
	if r.Files[0].Path != mailer {
		b.Fatalf("the mailer is not first: %+v", r.Files[0])
	}
	// files/s counts the files of both trees, each lstat'ed once.
	b.ReportMetric(float64(r.Stats.SiteFiles+r.Stats.SnapshotFiles)*float64(b.N)/b.Elapsed().Seconds(), "files/s")
	b.Logf("%+v", r.Stats)
}
