//! A write group: a batch's consecutive file writes in a constant number of
//! processes, whatever their count.
//!
//! Written alone, a file costs a dozen processes (`dirname`, `mktemp`,
//! `head`, `sha256sum` and `cut` twice, `chown`, `chmod`, `sync`, `mv`, and
//! the subshells around them). A group of n files runs instead:
//!
//! 1. `mkdir -p` of the missing directories and `rm -f` of temp files a
//!    killed write left, each only when there is one (shell tests find them);
//! 2. one `perl` (perl-base: Essential on Debian) that reads each content
//!    from fd 3, exactly its length, into a new temp file next to its target
//!    (`O_EXCL|O_NOFOLLOW`, mode 0600 while it is written), fsyncs it and
//!    sets its owner and mode;
//! 3. one `sha256sum` over the current targets (re-checked against the plan,
//!    as a lone write does) and the temp files (each must hash to the
//!    planned content), matched by order;
//! 4. for each file with a `validate` command: the files before it are put
//!    in place first (it may read them: a certificate before the
//!    configuration naming it), then the command runs on its temp file;
//! 5. one `perl` per run of files between validated ones that, in order,
//!    marks the restarts owed (`notify`), renames the temp file over the
//!    target (atomic), runs one `systemctl daemon-reload` after a run of
//!    unit files, and prints each step's end marker.
//!
//! The guarantees of a lone write hold: nothing half-written is ever in
//! place (a failure or a hangup leaves the old file and no temp file: the
//! EXIT trap removes every temp file not renamed), contents travel on stdin
//! only (never in the script, so never shown), and the first file that fails
//! (stale, incomplete, invalid, unwritable) is reported with the status and
//! message it would have alone, after the files before it were put in place
//! and before any after it.

use crate::facts::PENDING_DIR;
use crate::plan::Op;
use crate::transport::quote::sh;
use std::fmt::Write as _;

/// The program behind steps 2 and 5. `w`: arguments are (temp, path, length,
/// owner, group, octal mode) per file; on failure it prints `index<TAB>why`
/// (1-based) on stdout and exits 1. `c`: the nonce and the pending
/// directory, then (temp, path, step, op, daemon_reload, units joined by
/// `/`) per file; it prints the batch's markers on stderr and, on failure,
/// the reason after the failing file's begin marker, and exits 1.
const PERL: &str = r#"use strict; use Fcntl; use IO::Handle;
my $mode = shift @ARGV;
if ($mode eq "w") {
  my $i = 0;
  sub wfail { print "$i\t$_[0]"; exit 1 }
  open(my $in, "<&=", 3) or wfail("cannot read the uploads: $!");
  binmode $in;
  while (@ARGV) {
    my ($t, $p, $n, $u, $g, $m) = splice(@ARGV, 0, 6);
    $i++;
    my $uid = $u =~ /^[0-9]+$/ ? $u : getpwnam($u);
    defined $uid or wfail("chown: invalid user: $u:$g");
    my $gid = $g =~ /^[0-9]+$/ ? $g : getgrnam($g);
    defined $gid or wfail("chown: invalid group: $u:$g");
    sysopen(my $f, $t, O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW, 0600) or wfail("cannot create a temp file for $p: $!");
    binmode $f;
    while ($n > 0) {
      my $r = sysread($in, my $b, $n < 65536 ? $n : 65536);
      defined $r or wfail("cannot read the upload of $p: $!");
      $r > 0 or wfail("upload of $p arrived incomplete");
      my $o = 0;
      while ($o < $r) {
        my $w = syswrite($f, $b, $r - $o, $o);
        defined $w or wfail("cannot write $p: $!");
        $o += $w;
      }
      $n -= $r;
    }
    $f->sync or wfail("cannot sync $p: $!");
    close($f) or wfail("cannot write $p: $!");
    chown($uid, $gid, $t) or wfail("cannot chown $u:$g $p: $!");
    chmod(oct($m), $t) or wfail("cannot chmod $m $p: $!");
  }
  exit 0;
}
my ($nonce, $pend) = splice(@ARGV, 0, 2);
sub mark { print STDERR "\n$nonce $_[0]\n" }
sub cfail { print STDERR "$_[0]\n"; exit 1 }
my @open;
while (@ARGV) {
  my ($t, $p, $k, $j, $dr, $units) = splice(@ARGV, 0, 6);
  mark("B $k $j");
  for my $u (grep { length } split(m{/}, $units)) {
    my $d = "";
    for my $part (grep { length } split(m{/}, $pend)) {
      $d .= "/$part";
      -d $d or mkdir($d, 0755) or -d $d or cfail("cannot create $d: $!");
    }
    open(my $f, ">", "$pend/$u") or cfail("cannot mark $u for a restart: $!");
    close($f);
  }
  rename($t, $p) or cfail("cannot rename the new $p into place: $!");
  push @open, $k;
  next if $dr && @ARGV && $ARGV[4];
  if ($dr) { system("systemctl", "daemon-reload") == 0 or cfail("systemctl daemon-reload failed"); }
  mark("E $_") for @open;
  @open = ();
}
"#;

/// One file of a group: op `j` of step `k` of the batch (a `WriteFile`),
/// whose content is `len` bytes on fd 3.
pub(super) struct GroupFile<'a> {
    pub(super) k: usize,
    pub(super) j: usize,
    pub(super) op: &'a Op,
    pub(super) len: usize,
}

/// The fields of a `WriteFile` a group reads.
struct W<'a> {
    path: &'a str,
    sha256: &'a str,
    mode: u32,
    owner: &'a str,
    group: &'a str,
    expect: Option<&'a str>,
    validate: Option<&'a str>,
    daemon_reload: bool,
    notify: &'a [String],
}

fn fields(op: &Op) -> Option<W<'_>> {
    match op {
        Op::WriteFile {
            path,
            sha256,
            mode,
            owner,
            group,
            expect,
            validate,
            daemon_reload,
            notify,
        } => Some(W {
            path,
            sha256,
            mode: *mode,
            owner,
            group,
            expect: expect.as_deref(),
            validate: validate.as_deref(),
            daemon_reload: *daemon_reload,
            notify,
        }),
        _ => None,
    }
}

/// The directory a path is in, as `dirname` says it.
fn dir_of(path: &str) -> String {
    match path.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) => "/".into(),
        Some((d, _)) => d.trim_end_matches('/').to_string(),
        None => ".".into(),
    }
}

/// The temp file of file number `n` of a batch (unique within it; six
/// characters after `.rampart.`, as the leftovers' pattern expects).
fn temp_of(path: &str, tag: &str, n: usize) -> String {
    let d = dir_of(path);
    let sep = if d.ends_with('/') { "" } else { "/" };
    format!("{d}{sep}.rampart.{tag}{n:04x}")
}

/// The script of a group (a subshell whose status is the batch's, like a
/// lone op's), or None when an op is not a `WriteFile`. `tag` (two
/// characters) and `first` (the batch's count of group files before this
/// one) name the temp files.
pub(super) fn write_group(
    nonce: &str,
    files: &[GroupFile<'_>],
    tag: &str,
    first: usize,
) -> Option<String> {
    let ws: Vec<W<'_>> = files.iter().map(|f| fields(f.op)).collect::<Option<_>>()?;
    let n = ws.len();
    let temps: Vec<String> = ws
        .iter()
        .enumerate()
        .map(|(i, w)| temp_of(w.path, tag, first + i))
        .collect();
    let mut dirs: Vec<String> = ws.iter().map(|w| dir_of(w.path)).collect();
    dirs.sort();
    dirs.dedup();
    let q = |v: &Vec<String>| v.iter().map(|s| sh(s)).collect::<Vec<_>>().join(" ");
    let globs: Vec<String> = dirs
        .iter()
        .map(|d| {
            let sep = if d.ends_with('/') { "" } else { "/" };
            format!("{}{sep}.rampart.??????", sh(d))
        })
        .collect();
    let mut s = String::new();
    let (k0, j0) = (files[0].k, files[0].j);
    // the group is one part of the batch: its begin marker is its first file's
    let _ = write!(
        s,
        "printf '\\n%s\\n' '{nonce} B {k0} {j0}' >&2\n(\nset -e\nP={perl}\ntab='\t'\nnl='\n'\n\
         lim={lim}; st=0; msg=\n\
         trap {rm} EXIT\ntrap 'exit 129' HUP INT TERM PIPE\n\
         set --\nfor d in {dirs}; do if [ ! -d \"$d\" ]; then set -- \"$@\" \"$d\"; fi; done\n\
         if [ $# -gt 0 ]; then mkdir -p -- \"$@\"; fi\n\
         set --\nfor f in {globs}; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then set -- \"$@\" \"$f\"; fi; done\n\
         if [ $# -gt 0 ]; then rm -f -- \"$@\"; fi\n",
        perl = sh(PERL),
        lim = n + 1,
        rm = sh(&format!("rm -f -- {}", q(&temps))),
        dirs = q(&dirs),
        globs = globs.join(" "),
    );
    // 2: every temp file, in one process
    let wargs: Vec<String> = ws
        .iter()
        .zip(files)
        .zip(&temps)
        .map(|((w, f), t)| {
            format!(
                "{} {} {} {} {} {:04o}",
                sh(t),
                sh(w.path),
                f.len,
                sh(w.owner),
                sh(w.group),
                w.mode
            )
        })
        .collect();
    let _ = write!(
        s,
        "if w=$(perl -e \"$P\" w {} 2>&1); then :; else st=$?\n\
         case $w in *\"$tab\"*) lim=${{w%%\"$tab\"*}}; msg=${{w#*\"$tab\"}} ;; *) lim=1; msg=$w ;; esac\n\
         case $lim in ''|*[!0-9]*) lim=1 ;; esac\nfi\n",
        wargs.join(" ")
    );
    // 3: one sha256sum over the targets to re-check and the temp files, in order
    s.push_str("set --\n");
    for (i, (w, t)) in ws.iter().zip(&temps).enumerate() {
        let i = i + 1;
        let _ = write!(s, "if [ {i} -lt $lim ]; then ");
        if w.expect != Some("*") {
            let p = sh(w.path);
            let _ = write!(
                s,
                "if [ -f {p} ]; then set -- \"$@\" {p}; c{i}=f; elif [ -e {p} ]; then c{i}=; else c{i}=absent; fi; "
            );
        }
        let _ = writeln!(s, "set -- \"$@\" {}; fi", sh(t));
    }
    s.push_str(
        "sums=\nif [ $# -gt 0 ] && ! sums=$(sha256sum -- \"$@\" 2>&1); then lim=1; st=1; msg=\"cannot read the files to check: $sums\"; fi\n\
         s=$sums$nl\nnx() { l=${s%%\"$nl\"*}; s=${s#*\"$nl\"}; h=${l%% *}; h=${h#\\\\}; }\n",
    );
    for (i, w) in ws.iter().enumerate() {
        let sha = sh(w.sha256);
        // a comment naming the file's op (read by the fake transport's tests)
        let _ = writeln!(s, "# {nonce} file {} {}", files[i].k, files[i].j);
        let i = i + 1;
        let _ = writeln!(s, "if [ {i} -lt $lim ]; then p={}", sh(w.path));
        if w.expect != Some("*") {
            let _ = write!(
                s,
                "if [ \"$c{i}\" = f ]; then nx; c{i}=$h; fi\n\
                 e={e}; if [ \"$c{i}\" != \"$e\" ] && [ \"$c{i}\" != {sha} ]; then lim={i}; st={stale}; msg=\"$p changed on the host since it was planned (planned against $e, found $c{i}); plan again\"; fi\n",
                e = sh(w.expect.unwrap_or("absent")),
                stale = crate::plan::op::STALE,
            );
        }
        let _ = writeln!(
            s,
            "if [ {i} -lt $lim ]; then nx; if [ \"$h\" != {sha} ]; then lim={i}; st=1; msg=\"upload of $p arrived incomplete\"; fi; fi\nfi"
        );
    }
    let _ = writeln!(s, "# {nonce} files end");
    // 4 and 5: renames in runs, each validated file checked after the files before it are in place
    let commit = |s: &mut String, from: usize, to: usize| {
        if from >= to {
            return;
        }
        s.push_str("set --\n");
        for i in from..to {
            let (w, f) = (&ws[i], &files[i]);
            let _ = writeln!(
                s,
                "if [ {} -lt $lim ]; then set -- \"$@\" {} {} {} {} {} {}; fi",
                i + 1,
                sh(&temps[i]),
                sh(w.path),
                f.k,
                f.j,
                u8::from(w.daemon_reload),
                sh(&w.notify.join("/")),
            );
        }
        let _ = writeln!(
            s,
            "if [ $# -gt 0 ]; then perl -e \"$P\" c '{nonce}' {PENDING_DIR} \"$@\" || exit $?; fi"
        );
    };
    let mut from = 0;
    for (i, w) in ws.iter().enumerate() {
        let Some(v) = w.validate else { continue };
        commit(&mut s, from, i);
        from = i;
        let _ = write!(
            s,
            "if [ {n} -lt $lim ]; then p={p}; v={vq}; RAMPART_FILE={t}; export RAMPART_FILE\n\
             if vo=$( ( {v} ) 2>&1 </dev/null ); then :; else lim={n}; st=1; msg=\"the new $p failed validation ($v); the old file is untouched\"; [ -z \"$vo\" ] || msg=\"$vo$nl$msg\"; fi\nfi\n",
            n = i + 1,
            p = sh(w.path),
            vq = sh(v),
            t = sh(&temps[i]),
        );
    }
    commit(&mut s, from, n);
    // the first file that failed: its begin marker, its message, its status
    let _ = writeln!(s, "if [ $lim -le {n} ]; then case $lim in");
    for (i, f) in files.iter().enumerate() {
        let _ = writeln!(s, "{}) mk='{} {}' ;;", i + 1, f.k, f.j);
    }
    let _ = write!(
        s,
        "esac\nprintf '\\n%s\\n' \"{nonce} B $mk\" >&2\nprintf '%s\\n' \"$msg\" >&2\n[ \"$st\" -ne 0 ] || st=1\nexit \"$st\"\nfi\ntrap - EXIT\n)\nr=$?; [ \"$r\" -eq 0 ] || exit \"$r\"\n"
    );
    Some(s)
}

#[cfg(test)]
#[path = "write_group_tests.rs"]
mod tests;
