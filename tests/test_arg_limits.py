"""Argument limits of allow rules (`execpolicy.arg_limits`).

Each row is a command line and the hazards expected of it, written as short
strings so a table edit shows up as a failing row:

* ``runs`` / ``dynamic``: a hazard of that kind;
* ``writes=PATH``: a write whose target is the literal ``PATH``;
* ``writes~SOURCE``: a write whose target is the dynamic word ``SOURCE``;
* ``writes?``: a write to an unknown target.

Every program entry has at least one row with hazards and one without.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execguard.execpolicy import arg_limits
from execguard.execpolicy.arg_limits import (
    ANY_ARGUMENTS,
    DYNAMIC,
    PROGRAMS,
    RUNS,
    WRITES,
    Hazard,
    argument_hazards,
)
from execguard.execpolicy.words import Word

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def dyn(source: str, prefix: str = "", *, single: bool = True) -> Word:
    return Word.dynamic(source, prefix=prefix, single=single)


def words(line: str | list[str | Word]) -> list[Word]:
    if isinstance(line, str):
        return [Word(text) for text in shlex.split(line)]
    return [part if isinstance(part, Word) else Word(part) for part in line]


def summary(hazard: Hazard) -> str:
    if hazard.kind != WRITES:
        return hazard.kind
    if hazard.path is None:
        return "writes?"
    if hazard.path.text is None:
        return "writes~" + hazard.path.source
    return "writes=" + hazard.path.text


def check(line: str | list[str | Word], expected: set[str]) -> None:
    hazards = argument_hazards(words(line))
    assert {summary(hazard) for hazard in hazards} == expected, [h.reason for h in hazards]
    program = words(line)[0].text
    name = (program or "").rpartition("/")[2]
    for hazard in hazards:
        assert hazard.kind in (RUNS, WRITES, DYNAMIC)
        # Reasons are readable and name the program (busybox names its applet).
        assert hazard.reason and (name in hazard.reason or name == "busybox")


NONE: set[str] = set()

# -- sed ----------------------------------------------------------------------------------

SED = [
    ("sed -n 1,5p f", NONE),
    ("sed -n '1,5w /etc/x' f", {"writes=/etc/x"}),
    ("sed --in-pl s/a/b/ f", {"writes=f"}),
    ("sed --in-place=.bak s/a/b/ f g", {"writes=f", "writes=g"}),
    ("sed -i.bak s/a/b/ x y", {"writes=x", "writes=y"}),
    ("sed -ni p f", {"writes=f"}),  # -n -i
    ("sed -in p f", {"writes=f"}),  # -i with the suffix "n"
    ("sed -i s/a/b/", {"writes?"}),
    ("sed -i --follow-symlinks s/a/b/ f", {"writes?"}),
    ("sed -i'/tmp/*' s/a/b/ f", {"writes=f", "writes?"}),
    ("sed -ew/tmp/x", {"writes=/tmp/x"}),
    ("sed -n 1p -ew/tmp/x", {"writes=/tmp/x"}),  # GNU permutes options after operands
    ("sed --expr='w out' f", {"writes=out"}),
    ("sed s/a/b/e", {"runs"}),
    ("sed 's/x/y/ge' f", {"runs"}),
    ("sed 'e ls' f", {"runs"}),
    ("sed '1e ls' f", {"runs"}),
    ("sed '$!{e date\n}' f", {"runs"}),
    ("sed 's|a|b|w out' f", {"writes=out"}),
    ("sed 's/x/y/3w o' f", {"writes=o"}),
    ("sed 's/a\\/w x/b/' f", NONE),  # escaped delimiter: `w x` is pattern text
    ("sed 's/a/b/;W out2' f", {"writes=out2"}),
    ("sed -e s/a/b/ -e 'W out2'", {"writes=out2"}),
    ("sed '/x/w /dev/stdout' f", NONE),
    ("sed -f script.sed f", {"runs"}),
    ("sed --file=x f", {"runs"}),
    ("sed -e 1d -e '$!N' f", NONE),
    ("sed '1~2d;/x/,+3{s/a/b/g;p}' f", NONE),
    ("sed ':a;N;$!ba;s/\\n/ /g' f", NONE),
    ("sed '/start/,/end/{/x/d}' f", NONE),
    ("sed '\\,x,d' f", NONE),
    ("sed 'y/abc/xyz/' f", NONE),
    ("sed 'r /etc/passwd' f", NONE),
    ("sed 'a foo; w /x' f", NONE),  # a's text runs to the end of the line
    ("sed '1i\\\nw /x' f", NONE),
    ("sed '0,/re/s//X/' f", NONE),
    ("sed -E 's/(a|b)+/x/2' f", NONE),
    ("sed 's/a/b' f", {"runs"}),  # unterminated: cannot read it
    ("sed 'k' f", {"runs"}),  # unknown command
    ("sed --sandbox 's/a/b/e' f", NONE),
    ("sed --debug -E -z -s -u -n 1p f", NONE),
    ("/usr/bin/sed -i s/a/b/ x.py", {"writes=x.py"}),
]


@pytest.mark.parametrize(("line", "expected"), SED)
def test_sed(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- awk ----------------------------------------------------------------------------------

AWK = [
    ("awk 'BEGIN{system(\"id\")}'", {"runs"}),
    ("awk '{print > \"/etc/x\"}'", {"writes=/etc/x"}),
    ("awk '{ if ($1 > 3) print }'", NONE),
    ("awk '$1 > 0 && $2 < 5 || NF' f", NONE),
    ("awk -F: '/foo|bar/ {print $1}' /etc/passwd", NONE),  # `|` inside a regex
    ("awk '$0 ~ /[|/]x/ {n++}' f", NONE),
    ("awk '{ x = a / b; y = c / d }' f", NONE),
    ("awk '{print $1 | \"sort\"}'", {"runs"}),
    ("awk '{\"date\" | getline d}'", {"runs"}),
    ("awk 'BEGIN{printf \"x\" |& \"cat\"}'", {"runs"}),
    ("awk '{print >> $1\".txt\"}'", {"writes?"}),
    ("awk '{print > \"/dev/stderr\"}'", NONE),
    ("awk '{printf \"%s\\n\", $1 > \"out\"}'", {"writes=out"}),
    ("awk '{print $1, $2 > \"a|b\"}'", {"writes=a|b"}),
    ("awk 'BEGIN { print \"a > b | c\" }'", NONE),
    ("awk '{print (a > b)}'", {"writes?"}),  # conservative: any `>` in a print
    (["awk", "{print $1,\n $2 > \"out\"}"], {"writes=out"}),
    ("awk '{print \"a > b}'", {"runs"}),  # unterminated string: cannot read it
    ("awk -f prog.awk f", {"runs"}),
    ("awk '{print}' -f x", NONE),  # after the program, words are operands
    ("awk -- '{print}' f", NONE),
    ("awk -v x=1 'BEGIN{print x}'", NONE),
    ("gawk '@load \"filefuncs\"; BEGIN{}'", {"runs"}),
    ("gawk 'BEGIN{f=\"system\"; @f(\"id\")}'", {"runs"}),
    ("gawk -l ordchr 'BEGIN{}'", {"runs"}),
    ("gawk --sandbox 'BEGIN{system(\"id\")}'", NONE),
    ("gawk -d 'BEGIN{}'", {"writes=awkvars.out"}),
    ("gawk --dump-variables=/tmp/v 'BEGIN{}'", {"writes=/tmp/v"}),
    ("gawk -e 'BEGIN{system(\"x\")}'", {"runs"}),
    ("mawk -W exec prog.awk", {"runs"}),
    ("awk -W version", NONE),
    ("nawk '{print $2}' f", NONE),
]


@pytest.mark.parametrize(("line", "expected"), AWK)
def test_awk(line: str | list[str | Word], expected: set[str]) -> None:
    check(line, expected)


# -- find, rg, fd --------------------------------------------------------------------------

SEARCH = [
    ("find . -name x -delete", {"writes?"}),
    ("find . -name '*.py' -type f", NONE),
    ("find . -exec rm {} ;", {"runs"}),
    ("find . -execdir ls {} +", {"runs"}),
    ("find . -ok rm {} ; -print", {"runs"}),
    ("find . -okdir rm {} ;", {"runs"}),
    ("find . -fprint /tmp/list", {"writes=/tmp/list"}),
    ("find . -fprint0 l0", {"writes=l0"}),
    ("find . -fls ls.txt", {"writes=ls.txt"}),
    ("find . -fprintf out.txt '%p\\n'", {"writes=out.txt"}),
    ("find . -fprint /dev/stdout", NONE),
    ("find . -name -delete", NONE),  # the pattern, not the action
    ("find -L . -maxdepth 2 -newer ref -print", NONE),
    ("find . -newermt 2020-01-01 -o ( -size +1M ! -empty )", NONE),
    ("rg --pr=cat x", {"runs"}),
    ("rg --pre cat x", {"runs"}),
    ("rg --pre=cat x", {"runs"}),
    ("rg -nz x", {"runs"}),
    ("rg -z x", {"runs"}),
    ("rg --search-zip x", {"runs"}),
    ("rg --hostname-bin=x y", {"runs"}),
    ("rg -n foo src", NONE),
    ("rg -gz* foo", NONE),  # `z*` is the glob
    ("rg --pre-glob '*.pdf' x", NONE),
    ("rg -e --pre x", NONE),  # `--pre` is the pattern
    ("rg --no-search-zip x", NONE),
    ("fd -x rm", {"runs"}),
    ("fd --exec-batch ls", {"runs"}),
    ("fd -H -t f -e py foo", NONE),
    ("grep -r --include '*.py' -e x .", NONE),
]


@pytest.mark.parametrize(("line", "expected"), SEARCH)
def test_find_rg_fd(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- git ----------------------------------------------------------------------------------

GIT = [
    ("git -c core.pager=x log", {"runs"}),
    ("git -ccore.pager=x log", {"runs"}),
    ("git --config-env=core.pager=X log", {"runs"}),
    ("git -C /tmp status", {"runs"}),
    ("git --git-dir=/x status", {"runs"}),
    ("git --work-tree /x status", {"runs"}),
    ("git -p log", {"runs"}),
    ("git --paginate log", {"runs"}),
    ("git --exec-path=/x status", {"runs"}),
    ("git --exec-path", NONE),
    ("git --no-pager diff", NONE),
    ("git", NONE),
    ("git co", {"runs"}),  # may be an alias
    ("git send-email x.patch", {"runs"}),
    ("git log --oneline -n 5", NONE),
    ("git status", NONE),
    ("git commit -m x", NONE),
    ("git difftool", {"runs"}),
    ("git mergetool", {"runs"}),
    ("git filter-branch --tree-filter x HEAD", {"runs"}),
    ("git credential fill", {"runs"}),
    ("git submodule foreach ls", {"runs"}),
    ("git submodule --quiet foreach ls", {"runs"}),
    ("git submodule update --init", NONE),
    ("git bisect run make", {"runs"}),
    ("git bisect start", NONE),
    ("git rebase -x make main", {"runs"}),
    ("git rebase -xmake main", {"runs"}),
    ("git rebase --exec=make main", {"runs"}),
    ("git rebase --exe make main", {"runs"}),  # unique abbreviation
    ("git rebase main", NONE),
    ("git fetch --upload-pack=x origin", {"runs"}),
    ("git fetch origin", NONE),
    ("git pull --upload-pack x origin", {"runs"}),
    ("git ls-remote -u x origin", {"runs"}),
    ("git ls-remote origin", NONE),
    ("git push --receive-pack=x origin", {"runs"}),
    ("git push --exec=x origin", {"runs"}),
    ("git push -u origin main", NONE),  # push -u is --set-upstream
    ("git clone -u x https://h/r", {"runs", "writes=."}),
    ("git clone --template=/t https://h/r", {"runs", "writes=."}),
    ("git clone -c core.hooksPath=/x https://h/r d", {"runs", "writes=d"}),
    ("git clone ext::sh d", {"runs", "writes=d"}),
    ("git clone https://h/r", {"writes=."}),
    ("git clone -b main --depth 1 https://h/r /tmp/r", {"writes=/tmp/r"}),
    ("git config --global user.name x", {"runs"}),
    ("git config set user.name x", {"runs"}),
    ("git config --unset x.y", {"runs"}),
    ("git config --add x.y z", {"runs"}),
    ("git config -e", {"runs"}),
    ("git config --get user.name", NONE),
    ("git config --get-all user.name", NONE),
    ("git config get user.name", NONE),
    ("git config -l", NONE),
    ("git config --list --show-origin", NONE),
    ("git config user.name", NONE),
    ("git diff --ext-diff", {"runs"}),
    ("git show --ext-diff HEAD", {"runs"}),
    ("git diff --output=/tmp/d", {"writes=/tmp/d"}),
    ("git log -p --output /tmp/d", {"writes=/tmp/d"}),
    ("git diff HEAD -- src", NONE),
    ("git format-patch -o /tmp/p HEAD~1", {"writes=/tmp/p"}),
    ("git format-patch HEAD~1", {"writes=."}),
    ("git format-patch --stdout HEAD~1", NONE),
    ("git archive -o /tmp/a.tar HEAD", {"writes=/tmp/a.tar"}),
    ("git archive --output=a.zip HEAD", {"writes=a.zip"}),
    ("git archive --remote=x --exec=y HEAD", {"runs"}),
    ("git archive HEAD", NONE),
    ("git grep -O foo", {"runs"}),
    ("git grep --open-files-in-pager=vi foo", {"runs"}),
    ("git grep -n foo", NONE),
    ("git help -w log", {"runs"}),
    ("git help log", NONE),
    ("git init", {"writes=."}),
    ("git init -b main /tmp/r", {"writes=/tmp/r"}),
    ("git init --template=/t", {"runs", "writes=."}),
    ("git worktree add -b topic ../wt", {"writes=../wt"}),
    ("git worktree list", NONE),
    ("git bundle create /tmp/b.bundle HEAD", {"writes=/tmp/b.bundle", "writes=HEAD"}),
    ("git maintenance start", {"runs"}),
    ("git maintenance run", NONE),
    ("git apply --unsafe-paths p.diff", {"writes?"}),
    ("git apply p.diff", NONE),
]


@pytest.mark.parametrize(("line", "expected"), GIT)
def test_git(line: str, expected: set[str]) -> None:
    check(line, expected)


def test_git_command_list_is_generous() -> None:
    for command in ("add", "cherry-pick", "rev-parse", "for-each-ref", "sparse-checkout",
                    "range-diff", "symbolic-ref", "count-objects", "fsck", "var", "version"):
        assert command in arg_limits.GIT_COMMANDS
    assert "difftool" in arg_limits.GIT_RUNNING_COMMANDS


# -- tar, zip, unzip ----------------------------------------------------------------------

ARCHIVES = [
    ("tar --to-com=sh -xf a.tar", {"runs"}),  # extracts to the command, not to disk
    ("tar --to-command=sh -xf a.tar", {"runs"}),
    ("tar xf a.tar", {"writes=."}),
    ("tar -xzf a.tgz -C /tmp/x", {"writes=/tmp/x"}),
    ("tar xzfC a.tgz out", {"writes=out"}),  # old style: f and C take words in order
    ("tar -xf a.tar --directory=out", {"writes=out"}),
    ("tar --extract --file a.tar", {"writes=."}),
    ("tar czf out.tgz src", {"writes=out.tgz"}),
    ("tar -cf - src", NONE),
    ("tar -c src", {"writes?"}),
    ("tar -rf a.tar x", {"writes=a.tar"}),
    ("tar --delete -f a.tar member", {"writes=a.tar"}),
    ("tar --create --remove-files -f a.tar x y", {"writes=a.tar", "writes=x", "writes=y"}),
    ("tar -tf a.tar", NONE),
    ("tar tvzf a.tgz", NONE),
    ("tar xOf a.tar", NONE),
    ("tar -I zstd -cf a.tar.zst src", {"runs", "writes=a.tar.zst"}),
    ("tar --use-compress=zstd -xf a", {"runs", "writes=."}),
    ("tar -cf host:/tmp/a.tar src", {"runs", "writes=host:/tmp/a.tar"}),
    ("tar --force-local -cf a:b src", {"writes=a:b"}),
    ("tar -xPf a.tar", {"writes?", "writes=."}),
    ("tar --checkpoint=10 --checkpoint-action=exec=sh -cf a.tar src",
     {"runs", "writes=a.tar"}),
    ("tar -F script -cf a.tar src", {"runs", "writes=a.tar"}),
    ("tar --rsh-command=/x -tf a", {"runs"}),
    ("tar -g snap.db -cf a.tar src", {"writes=snap.db", "writes=a.tar"}),
    ("tar --index-file=idx -tvf a.tar", {"writes=idx"}),
    ("zip -r out.zip src", {"writes=out.zip"}),
    ("zip -T -TT 'sh -c id' a.zip f", {"runs", "writes=a.zip"}),
    ("zip --unzip-command=x -T a.zip f", {"runs", "writes=a.zip"}),
    ("zip -m a.zip f", {"writes=a.zip", "writes=f"}),
    ("zip -r a.zip src -x '*.git*'", {"writes=a.zip"}),
    ("zip -r - src", NONE),
    ("unzip a.zip", {"writes=."}),
    ("unzip a.zip -d out", {"writes=out"}),
    ("unzip -qo a.zip -dout", {"writes=out"}),
    ("unzip -: a.zip", {"writes?", "writes=."}),
    ("unzip -l a.zip", NONE),
    ("unzip -p a.zip f", NONE),
]


@pytest.mark.parametrize(("line", "expected"), ARCHIVES)
def test_archives(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- programs that write named files --------------------------------------------------------

FILES = [
    ("sort -o out in", {"writes=out"}),
    ("sort -rno out in", {"writes=out"}),
    ("sort --out=x in", {"writes=x"}),
    ("sort -T /tmp/s in", {"writes=/tmp/s"}),
    ("sort --compress-program=gzip in", {"runs"}),
    ("sort -o - in", NONE),
    ("sort -k2 -n -t, in", NONE),
    ("uniq in out", {"writes=out"}),
    ("uniq -c in", NONE),
    ("uniq -f 1 in", NONE),
    ("tee out.txt", {"writes=out.txt"}),
    ("tee -a a b", {"writes=a", "writes=b"}),
    ("tee", NONE),
    ("cp a b", {"writes=b"}),
    ("cp -r src/ /tmp/dest/", {"writes=/tmp/dest/"}),
    ("cp -t /d a b", {"writes=/d"}),
    ("cp --target-directory=d a", {"writes=d"}),
    ("cp -S .bak a b", {"writes=b"}),
    ("cp a", NONE),
    ("mv a b", {"writes=b", "writes=a"}),
    ("mv -t d a b", {"writes=d", "writes=a", "writes=b"}),
    ("mv --help", NONE),
    ("install -m 755 a /usr/local/bin/a", {"writes=/usr/local/bin/a"}),
    ("install -d x y", {"writes=x", "writes=y"}),
    ("install --strip-program=x a b", {"runs", "writes=b"}),
    ("install --help", NONE),
    ("ln -s a b", {"writes=b"}),
    ("ln -s /x", {"writes=."}),
    ("ln --version", NONE),
    ("rm -rf build", {"writes=build"}),
    ("rm -- -f", {"writes=-f"}),
    ("rm", NONE),
    ("rmdir -p a/b", {"writes=a/b"}),
    ("rmdir --help", NONE),
    ("touch -d 2020-01-01 f", {"writes=f"}),
    ("touch --version", NONE),
    ("mkdir -p a/b", {"writes=a/b"}),
    ("mkdir -m 700 d", {"writes=d"}),
    ("mkdir --help", NONE),
    ("truncate -s 0 f", {"writes=f"}),
    ("truncate --help", NONE),
    ("shred -u f", {"writes=f"}),
    ("shred --help", NONE),
    ("chmod 755 f", {"writes=f"}),
    ("chmod -w f", {"writes=f"}),
    ("chmod -R u+x d", {"writes=d"}),
    ("chmod --reference=r f", {"writes=f"}),
    ("chmod --help", NONE),
    ("chown user:grp f", {"writes=f"}),
    ("chown --reference=r f", {"writes=f"}),
    ("chgrp grp f g", {"writes=f", "writes=g"}),
    ("chgrp --help", NONE),
    ("dd if=a of=b bs=1M", {"writes=b"}),
    ("dd if=a", NONE),
    ("split -l 10 in out/part", {"writes=out/part"}),
    ("split in", {"writes=."}),
    ("split --filter='gzip > $FILE' in", {"runs", "writes=."}),
    ("csplit f 10", {"writes=."}),
    ("csplit -f out/p f 10", {"writes=out/p"}),
    ("gzip f", {"writes=f"}),
    ("gzip -d f.gz", {"writes=f.gz"}),
    ("gzip -c f", NONE),
    ("gzip", NONE),
    ("zstd f -o out.zst", {"writes=out.zst"}),
    ("xz -t f.xz", NONE),
    ("bzip2 -k a b", {"writes=a", "writes=b"}),
    ("patch -p1", {"writes=."}),
    ("patch -d sub -p1", {"writes=sub"}),
    ("patch -o out f p", {"writes=out"}),
    ("patch -e f", {"runs", "writes=f"}),
    ("patch --dry-run -p1", NONE),
    ("mktemp", {"writes?"}),
    ("mktemp -d -p /tmp", {"writes=/tmp"}),
    ("mktemp build/tmp.XXXX", {"writes=build/tmp.XXXX"}),
    ("mktemp -u", NONE),
    ("file f", NONE),
    ("file -C -m magic", {"writes=."}),
    ("base64 f", NONE),
    ("base64 -o out f", {"writes=out"}),
    ("xxd in out", {"writes=out"}),
    ("xxd -r in out", {"writes=out"}),
    ("xxd -s 10 in out", {"writes=out"}),
    ("xxd -c 8 in", NONE),
    ("xxd in -", NONE),
    ("tree -o out.txt", {"writes=out.txt"}),
    ("tree -aLo 2 out", {"writes=out"}),  # each value letter takes the next word
    ("tree -L 2 src", NONE),
    ("printf -v x '%s' a", {"runs"}),
    ("printf '%s\\n' a -v", NONE),
]


@pytest.mark.parametrize(("line", "expected"), FILES)
def test_file_writers(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- network ----------------------------------------------------------------------------------

NETWORK = [
    ("curl -o f https://x", {"writes=f"}),
    ("curl -sSLo out https://x", {"writes=out"}),
    ("curl --output=f https://x", {"writes=f"}),
    ("curl -O https://x/a", {"writes=."}),
    ("curl --remote-name-all https://x/a", {"writes=."}),
    ("curl --output-dir d -O https://x", {"writes=d", "writes=."}),
    ("curl -K cfg https://x", {"runs"}),
    ("curl --config=cfg", {"runs"}),
    ("curl --trace t https://x", {"writes=t"}),
    ("curl -c jar https://x", {"writes=jar"}),
    ("curl -D h.txt https://x", {"writes=h.txt"}),
    ("curl -D - https://x", NONE),
    ("curl --libcurl x.c https://x", {"writes=x.c"}),
    ("curl -T f file:///etc/x", {"writes?"}),
    ("curl -w '%output{/tmp/x}' https://x", {"writes?"}),
    ("curl https://x", NONE),
    ("curl -s -H 'A: b' -d @file https://x", NONE),
    ("wget https://x", {"writes=."}),
    ("wget -O f https://x", {"writes=f"}),
    ("wget -qO- https://x", NONE),
    ("wget -O - https://x", NONE),
    ("wget --spider https://x", NONE),
    ("wget -e robots=off https://x", {"runs", "writes=."}),
    ("wget -P /tmp/d https://x", {"writes=/tmp/d"}),
    ("wget -o log https://x", {"writes=log", "writes=."}),
    ("ssh -o ProxyCommand=x host", {"runs"}),
    ("ssh -oLocalCommand=x -o PermitLocalCommand=yes host", {"runs"}),
    ("ssh -o 'KnownHostsCommand /x' host", {"runs"}),
    ("ssh -F cfg host", {"runs"}),
    ("ssh -S sock host", {"runs"}),
    ("ssh -E log host", {"writes=log"}),
    ("ssh -o UserKnownHostsFile=/tmp/kh host", {"writes=/tmp/kh"}),
    ("ssh -p 22 -i key host ls -la", NONE),
    ("ssh host -o ProxyCommand=x", {"runs"}),  # ssh reads options after the host
    ("scp a host:b", NONE),
    ("scp host:a b", {"writes=b"}),
    ("scp -S prog a host:b", {"runs"}),
    ("scp -o ProxyCommand=x a host:b", {"runs"}),
    ("sftp host", {"writes?"}),
    ("sftp -b batch host", {"runs", "writes?"}),
    ("rsync -av src/ dst/", {"writes=dst/"}),
    ("rsync -avz src host:/d", NONE),
    ("rsync -e ssh src host:dst", {"runs"}),
    ("rsync -avze ssh src host:dst", {"runs"}),
    ("rsync --rsync-path=x src host:d", {"runs"}),
    ("rsync --remove-source-files a b", {"writes=b", "writes=a"}),
    ("rsync --log-file=/tmp/l a host:b", {"writes=/tmp/l"}),
]


@pytest.mark.parametrize(("line", "expected"), NETWORK)
def test_network(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- editors, pagers, runners -----------------------------------------------------------------

RUNNERS = [
    ("vim -c '!id' f", {"runs"}),
    ("vim --cmd x f", {"runs"}),
    ("vim '+!id' f", {"runs"}),
    ("vim -S s.vim", {"runs"}),
    ("nvim -l x.lua", {"runs"}),
    ("vi -w out f", {"writes=out"}),
    ("vim -V20/tmp/log f", {"writes=/tmp/log"}),
    ("vim +10 f", NONE),
    ("vim -R f", NONE),
    ("vim -u NONE -N f", NONE),
    ("view -o3 a b", NONE),
    ("emacs --eval '(x)'", {"runs"}),
    ("emacs -l x.el", {"runs"}),
    ("emacs --batch f", {"runs"}),
    ("emacs --ev x", {"runs"}),
    ("emacs -nw f", NONE),
    ("emacs -q +3 f", NONE),
    ("less f", NONE),
    ("less +G -N f", NONE),
    ("less '+!id' f", {"runs"}),
    ("less -k keys f", {"runs"}),
    ("less -o log f", {"writes=log"}),
    ("man ls", NONE),
    ("man -k foo", NONE),
    ("man -P cat ls", {"runs"}),
    ("man --pager=x ls", {"runs"}),
    ("man -H ls", {"runs"}),
    ("xargs rm", {"runs"}),
    ("xargs -0 -n1 -I{} echo {}", {"runs"}),
    ("xargs", NONE),
    ("xargs -0 -n1", NONE),
    ("env", NONE),
    ("env -i FOO=1", NONE),
    ("env FOO=1 ls", {"runs"}),
    ("env -S 'a b'", {"runs"}),
    ("timeout 5 ls", {"runs"}),
    ("timeout --help", NONE),
    ("nohup x", {"runs"}),
    ("nice", NONE),
    ("sudo -l", {"runs"}),
    ("command -v ls", NONE),
    ("command ls", {"runs"}),
    ("busybox sed -i s/a/b/ f", {"writes=f"}),
    ("busybox ls -l", NONE),
    ("busybox sh -c id", {"runs"}),
    ("crontab -l", NONE),
    ("crontab -u root -l", NONE),
    ("crontab -e", {"runs"}),
    ("crontab f", {"runs"}),
]


@pytest.mark.parametrize(("line", "expected"), RUNNERS)
def test_editors_pagers_runners(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- developer tools ------------------------------------------------------------------------------

TOOLS = [
    ("pytest -q tests", NONE),
    ("pytest -x -k 'a and b' tests/test_x.py", NONE),
    ("pytest --basetemp=/tmp/x", {"writes=/tmp/x"}),
    ("pytest --junitxml out.xml", {"writes=out.xml"}),
    ("pytest --debug", {"writes=pytestdebug.log"}),
    ("pytest -o cache_dir=/tmp/c", {"writes=/tmp/c"}),
    ("pytest -o addopts=", NONE),
    ("pytest --cov-report=html:/tmp/h", {"writes=/tmp/h"}),
    ("mypy src", NONE),
    ("mypy --install-types", {"runs"}),
    ("mypy --python-executable /x/python src", {"runs"}),
    ("mypy --html-report r src", {"writes=r"}),
    ("mypy --cache-dir=/tmp/c src", {"writes=/tmp/c"}),
    ("ruff check src", {"writes=src"}),  # `fix = true` in the config rewrites files
    ("ruff check --no-fix src", NONE),
    ("ruff check -o /tmp/r --no-fix", {"writes=/tmp/r"}),
    ("ruff format --check", NONE),
    ("ruff format a.py", {"writes=a.py"}),
    ("ruff rule E501", NONE),
    ("ruff clean", {"writes=."}),
    ("black a.py", {"writes=a.py"}),
    ("black --check a.py", NONE),
    ("isort a.py", {"writes=a.py"}),
    ("isort --check-only a.py", NONE),
    ("prettier --write a.js", {"writes=a.js"}),
    ("prettier a.js", NONE),
    ("eslint --fix a.js", {"writes=a.js"}),
    ("eslint -o r.txt a.js", {"writes=r.txt"}),
    ("eslint a.js", NONE),
    ("gofmt -w a.go", {"writes=a.go"}),
    ("gofmt -l .", NONE),
    ("rustfmt a.rs", {"writes=a.rs"}),
    ("rustfmt --check a.rs", NONE),
    ("clang-format -i a.c", {"writes=a.c"}),
    ("clang-format a.c", NONE),
    ("shfmt -w a.sh", {"writes=a.sh"}),
    ("shfmt -d a.sh", NONE),
]


@pytest.mark.parametrize(("line", "expected"), TOOLS)
def test_developer_tools(line: str, expected: set[str]) -> None:
    check(line, expected)


# -- dynamic words ------------------------------------------------------------------------------

QUOTED_F = dyn('"$f"')
UNQUOTED_F = dyn("$f", single=False)

DYNAMIC_ROWS: list[tuple[list[str | Word], set[str]]] = [
    (["cat", QUOTED_F], NONE),
    (["cat", UNQUOTED_F, dyn("--$x", "--")], NONE),
    (["grep", "-e", UNQUOTED_F, dyn("$d")], NONE),
    (["sed", "-n", "1p", UNQUOTED_F], {"dynamic"}),  # may be -i or -ew/FILE
    (["sed", "-n", "1p", dyn('"src/$f"', "src/")], NONE),
    (["sed", dyn('"s/$a/b/"', "s/")], {"dynamic"}),  # the script itself
    (["sed", dyn('"--expression=$s"', "--expression=")], {"dynamic"}),
    (["sed", "-i", "s/a/b/", dyn('"src/$f"', "src/")], {'writes~"src/$f"'}),
    (["sort", "-o", dyn('"$out"'), "in"], {'writes~"$out"'}),
    (["sort", dyn('"-o$out"', "-o"), "in"], {'writes~"-o$out"'}),
    (["sort", "-k", dyn('"$k"'), "f"], NONE),
    (["sort", "-k", dyn("$k", single=False), "f"], {"dynamic"}),  # later words: options
    (["tar", "xf", dyn('"$a"')], {"dynamic", "writes=."}),  # may be `host:file`
    (["tar", "xf", dyn('"./$a"', "./")], {"writes=."}),
    (["tar", dyn("$ops")], {"dynamic"}),
    (["find", dyn('"$d"'), "-name", "x"], {"dynamic"}),  # may be -delete
    (["find", dyn('"./$d"', "./"), "-name", dyn('"$n"')], NONE),
    (["find", ".", "-name", dyn("$n", single=False)], {"dynamic"}),
    (["rg", dyn('"$p"')], {"dynamic"}),  # may be --pre=CMD
    (["rg", "-e", dyn('"$p"')], NONE),
    (["rg", "--", dyn('"$p"')], NONE),
    (["awk", dyn('"$prog"')], {"dynamic"}),
    (["awk", "{print}", QUOTED_F], NONE),  # after the program, operands only
    (["git", "log", QUOTED_F], {"dynamic"}),
    (["git", "log", dyn('"src/$f"', "src/")], NONE),
    (["git", "log", "--", QUOTED_F], NONE),
    (["git", "add", dyn('"src/$f"', "src/")], {"dynamic"}),
    (["git", dyn("$sub")], {"dynamic"}),
    (["git", dyn("$opt"), "status"], {"dynamic"}),
    (["xargs", dyn("$cmd")], {"dynamic"}),
    (["env", dyn('"FOO=$x"', "FOO="), "ls"], {"runs"}),
    (["env", dyn("$assign")], {"dynamic"}),
    (["dd", dyn('"of=$o"', "of=")], {'writes~"of=$o"'}),
    (["dd", dyn("$x")], {"dynamic"}),
    (["vim", QUOTED_F], {"dynamic"}),  # may be +!cmd
    (["vim", dyn('"src/$f"', "src/")], NONE),
    (["less", QUOTED_F], {"dynamic"}),
    (["pytest", dyn('"tests/$f"', "tests/")], NONE),
    (["pytest", QUOTED_F], {"dynamic"}),  # may be --basetemp=/ or -pPLUGIN
    (["pytest", UNQUOTED_F], {"dynamic"}),
    (["pytest", "-k", dyn('"$x"')], {"dynamic"}),  # an option's value
    (["pytest", "--frobnicate", dyn('"tests/$f"', "tests/")], {"dynamic"}),  # maybe its value
    (["pytest", "--", QUOTED_F], NONE),
    (["curl", dyn('"https://$h/x"', "https://")], NONE),
    (["curl", dyn('"$url"')], {"dynamic"}),
    (["cp", "a", dyn('"$d"')], {"dynamic"}),  # may be -t/elsewhere
    (["cp", "a", dyn('"out/$d"', "out/")], {'writes~"out/$d"'}),
    (["cp", dyn("src/*", "src/"), "dest"], {"writes=dest"}),
    (["uniq", dyn("src/*", "src/", single=False)], {"writes~src/*"}),
    (["tee", QUOTED_F], {"dynamic"}),
    (["printf", dyn('"$fmt"'), "x"], {"dynamic"}),
    (["printf", "%s", QUOTED_F], NONE),
    (["frobnicate", QUOTED_F], {"dynamic"}),  # no grammar: every dynamic word
    (["frobnicate", "--anything", "goes"], NONE),  # literal arguments: the rule decides
    ([dyn("$cmd"), "x"], {"dynamic"}),
]


@pytest.mark.parametrize(("line", "expected"), DYNAMIC_ROWS)
def test_dynamic_words(line: list[str | Word], expected: set[str]) -> None:
    check(line, expected)


# -- the public surface ----------------------------------------------------------------------------


def test_hazard_is_an_immutable_value() -> None:
    hazard = Hazard(WRITES, "tee: writes `x`", Word("x"))
    assert hazard == Hazard(WRITES, "tee: writes `x`", Word("x"))
    assert hash(hazard) == hash(Hazard(WRITES, "tee: writes `x`", Word("x")))
    assert Hazard(RUNS, "r").path is None
    with pytest.raises(AttributeError):
        hazard.kind = RUNS
    assert "Hazard(kind='writes'" in repr(hazard)


def test_reasons_name_program_and_argument() -> None:
    [hazard] = argument_hazards(words("sed -n 'w /etc/x' f"))
    assert hazard.reason == "sed: the `w` command writes `/etc/x`"
    [hazard] = argument_hazards(words("tar --to-com=sh -xf a.tar"))
    assert hazard.reason.startswith("tar: `--to-command`")


def test_empty_argv() -> None:
    assert argument_hazards([]) == []


def test_a_failing_reader_becomes_a_runs_hazard(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(name: str, args: object) -> list[Hazard]:
        raise ValueError("boom")
    monkeypatch.setitem(arg_limits._CHECKS, "sed", broken)
    assert argument_hazards(words("sed p")) == [
        Hazard(RUNS, "sed: could not read the arguments")]


def test_garbage_input_does_not_raise() -> None:
    bad: list[object] = [Word("sed"), None, 3]
    [hazard] = argument_hazards(bad)  # type: ignore[arg-type]
    assert hazard.kind == RUNS and "could not read" in hazard.reason
    [hazard] = argument_hazards([None])  # type: ignore[list-item]
    assert hazard.kind == RUNS


def test_huge_argv_is_read_quickly() -> None:
    argv = [Word("sed"), Word("-n"), Word("1p")] + [Word(f"f{i}") for i in range(20000)]
    assert argument_hazards(argv) == []
    argv = [Word("cp")] + [Word(f"f{i}") for i in range(20000)]
    assert {summary(hazard) for hazard in argument_hazards(argv)} == {"writes=f19999"}


def test_any_programs_have_no_entry_of_their_own() -> None:
    assert not ANY_ARGUMENTS & set(arg_limits._CHECKS)
    assert {"cat", "grep", "head", "jq", "wc", "["} <= ANY_ARGUMENTS
    assert not {"printf", "file", "sed", "find"} & ANY_ARGUMENTS
    assert {"sed", "awk", "find", "git", "tar", "curl"} <= PROGRAMS


def test_import_stays_light() -> None:
    code = ("import sys\n"
            "import execguard.execpolicy.words\n"
            "before = set(sys.modules)\n"
            "import execguard.execpolicy.arg_limits\n"
            "print(sorted(set(sys.modules) - before))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['execguard.execpolicy.arg_limits']"


# -- properties -----------------------------------------------------------------------------------

OPTION_LIKE = [
    "-", "--", "-n", "-i", "-e", "-f", "-o", "-x", "-z", "-C", "-c", "-u", "-d", "-ni", "-in",
    "-ew/tmp/x", "--in-pl", "--to-com=sh", "--output", "--output=x", "--pre", "--exec",
    "-exec", "-delete", "-name", ";", "{}", "+", "(", "!", "s/a/b/", "1,5p", "w /tmp/y",
    "e", "{print > \"f\"}", "BEGIN{system(\"x\")}", "a=b", "of=x", "host:path", "x", "src/a",
    ".", "/", "\\", "'", '"', "${", "é", "\x00", "\n", "",
]
PROGRAM_NAMES = [*sorted(PROGRAMS), "frobnicate", "/usr/bin/sed", "./git", "", "/"]


@st.composite
def a_word(draw: st.DrawFn) -> Word:
    if draw(st.booleans()):
        return Word(draw(st.sampled_from(OPTION_LIKE) | st.text(max_size=12)))
    prefix = draw(st.sampled_from(["", "-", "--", "--output=", "-o", "src/", "s/", "of=", "+",
                                   "x:"]) | st.text(max_size=4))
    return Word.dynamic("$x", prefix=prefix, single=draw(st.booleans()))


@st.composite
def an_argv(draw: st.DrawFn) -> list[Word]:
    program = draw(st.sampled_from(PROGRAM_NAMES).map(Word) | a_word())
    return [program, *draw(st.lists(a_word(), max_size=8))]


@SETTINGS
@given(an_argv())
def test_never_raises_and_answers_well_formed(argv: list[Word]) -> None:
    hazards = argument_hazards(argv)
    assert isinstance(hazards, list)
    for hazard in hazards:
        assert isinstance(hazard, Hazard)
        assert hazard.kind in (RUNS, WRITES, DYNAMIC)
        assert isinstance(hazard.reason, str) and hazard.reason
        assert hazard.path is None or isinstance(hazard.path, Word)
        assert hazard.kind == WRITES or hazard.path is None
        # No reader failed on these inputs (such a failure would be a bug
        # hiding behind the conservative answer).
        assert "could not read the arguments" not in hazard.reason


# Options that make each program run something, put first so no earlier word
# can swallow them as a value; what follows must not undo them.
RUNNING_PREFIXES: dict[str, list[str]] = {
    "sed": ["-f", "script.sed"],
    "awk": ["-D"],
    "gawk": ["-l", "ext"],
    "find": ["-exec", "x", ";"],
    "rg": ["--pre=x"],
    "fd": ["--exec", "x"],
    "git": ["-c", "a.b=c"],
    "tar": ["--to-command=x"],
    "sort": ["--compress-program=x"],
    "curl": ["-K", "cfg"],
    "wget": ["-e", "x"],
    "ssh": ["-oProxyCommand=x"],
    "scp": ["-S", "x"],
    "rsync": ["--rsh=x"],
    "zip": ["-TT", "x"],
    "xargs": ["sh"],
    "env": ["-S", "x"],
    "vim": ["--cmd", "x"],
    "emacs": ["--eval", "x"],
    "less": ["-k", "x"],
    "man": ["--pager=x"],
    "install": ["--strip-program=x"],
    "split": ["--filter=x"],
    "mypy": ["--install-types"],
    "patch": ["-e"],
    "timeout": ["5", "x"],
}
# The tail leaves out the one spelling that neutralises a running option.
TAIL_WORDS = [word for word in OPTION_LIKE if word not in ("--sandbox",)]


@st.composite
def a_tail_word(draw: st.DrawFn) -> Word:
    if draw(st.booleans()):
        return Word(draw(st.sampled_from(TAIL_WORDS)))
    prefix = draw(st.sampled_from(["", "-", "--output=", "src/"]))
    return Word.dynamic("$x", prefix=prefix, single=draw(st.booleans()))


@SETTINGS
@given(st.sampled_from(sorted(RUNNING_PREFIXES)), st.lists(a_tail_word(), max_size=6))
def test_a_running_option_always_yields_runs(program: str, tail: list[Word]) -> None:
    argv = [Word(program), *(Word(text) for text in RUNNING_PREFIXES[program]), *tail]
    assert any(hazard.kind == RUNS for hazard in argument_hazards(argv)), argv


@SETTINGS
@given(st.sampled_from(sorted(ANY_ARGUMENTS)), st.lists(a_word(), max_size=6))
def test_any_programs_never_have_hazards(program: str, tail: list[Word]) -> None:
    assert argument_hazards([Word(program), *tail]) == []


@SETTINGS
@given(st.lists(st.text(max_size=10).map(Word), max_size=6))
def test_unknown_programs_with_literal_arguments_are_left_to_the_rule(tail: list[Word]) -> None:
    assert argument_hazards([Word("frobnicate"), *tail]) == []
