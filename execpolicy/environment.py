"""Which environment (and shell) variables change what a command runs.

A wrapper such as ``env NAME=VALUE cmd`` or ``sudo NAME=VALUE cmd`` judges
``cmd`` on its own, but the variables it sets travel with it: ``env
LD_PRELOAD=/tmp/x.so ls`` runs code that ``ls`` never asked for, and ``env
PAGER='sh -c ...' git log`` runs a shell. :func:`sensitive_variable` tells
such variables from harmless data (``CI=1``, ``NODE_ENV=test``), so the
engine can ask before a command runs with them.

The tables are data: exact names (:data:`SENSITIVE_NAMES`), prefixes
(:data:`SENSITIVE_PREFIXES`) and suffixes (:data:`SENSITIVE_SUFFIXES`), with
:data:`HARMLESS_NAMES` carving exceptions out of the prefix and suffix rules
(``PYTHONUNBUFFERED`` under ``PYTHON*``, ``GIT_AUTHOR_NAME`` under ``GIT_*``).
Names are case-sensitive, as on Unix; only npm's ``npm_config_*`` is matched
in any case, because npm reads it that way.

Choices beyond "loads or runs code", each on the side of asking:

* ``HOME``, ``XDG_*``, ``ZDOTDIR``, ``*_HOME``: programs read configuration,
  and so helpers and plugins, from there (git, shells, cargo, pre-commit).
* Credentials and remote targets (``AWS_*``, ``KUBECONFIG``, ``DOCKER_HOST``,
  ``SSH_AUTH_SOCK``, ``GOOGLE_APPLICATION_CREDENTIALS``, ...): a command then
  acts on another account or machine, and several of these configurations
  run credential helpers.
* Proxies and trusted certificates (``*_PROXY``, ``SSL_CERT_FILE``,
  ``NODE_TLS_REJECT_UNAUTHORIZED``, ...): downloads may be swapped in transit.
* Package manager configuration (``PIP_*``, ``UV_*``, ``YARN_*``,
  ``npm_config_*``, ``GOPROXY``, ...): where packages come from.
* ``PYTHONWARNINGS`` is *sensitive*: a category such as
  ``ignore::mod.Warning`` makes Python import ``mod`` at startup.
* ``POSIXLY_CORRECT`` changes how GNU programs read their arguments, which
  the argument grammars assume.
* ``IFS`` is harmless here: bash ignores an inherited one, and the script
  analysis handles assignments inside the script itself.
* ``TMPDIR``, ``TERM``, ``TZ``, ``LANG``/``LC_*`` are harmless data.
"""

from __future__ import annotations

# -- exact names -------------------------------------------------------------------

_SEARCH = "is a search path: it chooses which programs, libraries or modules are loaded"
_LOADER = "steers the dynamic loader, which can load any library into every program"
_LIBC = "makes the C library load data or modules from another place in every program"
_STARTUP = "names code or a file the shell runs"
_SHELL_STATE = "changes how bash or zsh finds or runs commands"
_CONFIG = "chooses where programs read their configuration (and so their helpers)"
_HISTORY = "makes the shell write its history to that file"
_PROGRAM = "names a program that other programs start"
_OPTIONS = "passes options or arguments to a program, which can make it load or run code"
_RUNTIME = "makes a language runtime load or run other code"
_TOOLCHAIN = "chooses a compiler, linker or build tool, or what it is given"
_PACKAGES = "configures a package manager: where packages come from, what it runs"
_GIT = "configures git, which can make it run programs or write files"
_REMOTE = "selects credentials, keys or the remote system a command acts on"
_TLS = "changes which certificates are trusted or where traffic and secrets go"
_TERMINAL = "makes terminal programs read terminal descriptions from another place"
_PARSING = "changes how GNU programs read their arguments"
_PYTHON = "configures the Python interpreter: modules it imports, code it runs at startup"
_HOME_DIR = "points a tool at the installation or configuration it loads"
_PROXY = "routes network traffic through another host"

_GROUPS: tuple[tuple[str, frozenset[str]], ...] = (
    (_SEARCH, frozenset({
        "PATH",
        # zsh ties these arrays to PATH, CDPATH, FPATH, MANPATH and MODULE_PATH.
        "path", "cdpath", "fpath", "manpath", "module_path",
    })),
    (_LIBC, frozenset({
        "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH", "HOSTALIASES",
        "RESOLV_HOST_CONF", "GETCONF_DIR",
    })),
    (_STARTUP, frozenset({
        "BASH_ENV", "ENV", "PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND",
    })),
    (_SHELL_STATE, frozenset({
        "SHELLOPTS", "BASHOPTS", "EXECIGNORE", "BASH_CMDS", "BASH_ALIASES",
    })),
    (_CONFIG, frozenset({
        "HOME", "ZDOTDIR", "INPUTRC", "GNUPGHOME", "WGETRC", "VIMINIT", "GVIMINIT",
        "EXINIT", "MYVIMRC", "VIMRUNTIME", "PHPRC", "PHP_INI_SCAN_DIR",
    })),
    (_HISTORY, frozenset({"HISTFILE"})),
    (_PROGRAM, frozenset({
        "VISUAL", "BROWSER", "FCEDIT", "LESSOPEN", "LESSCLOSE", "MAKE", "RSYNC_RSH",
        "RSYNC_CONNECT_PROG", "CVS_RSH", "CVS_SERVER", "SSH_ASKPASS_REQUIRE",
        # A D-Bus address of the unixexec: transport starts a program.
        "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS",
    })),
    (_OPTIONS, frozenset({"LESS", "GZIP", "BZIP", "BZIP2", "XZ_DEFAULTS", "MAVEN_ARGS"})),
    (_RUNTIME, frozenset({
        "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYLIB", "NODE_REPL_EXTERNAL_MODULE",
        "R_PROFILE", "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "R_LIBS",
        "R_LIBS_USER", "R_LIBS_SITE", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTEST_PLUGINS",
        "GOFLAGS", "GOROOT", "GOBIN", "GOENV", "GOCACHE", "GOMODCACHE", "GOWORK",
        "GOTOOLCHAIN", "GOEXPERIMENT", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN",
    })),
    (_TOOLCHAIN, frozenset({
        "CC", "CXX", "CPP", "LD", "AR", "AS", "NM", "RANLIB", "STRIP", "OBJCOPY",
        "OBJDUMP", "FC", "F77", "LIBS", "MAKEFILES",
    })),
    (_PACKAGES, frozenset({
        "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GONOPROXY", "GOPRIVATE",
        "GOINSECURE", "GOVCS", "RUSTUP_DIST_SERVER", "RUSTUP_UPDATE_ROOT",
    })),
    (_REMOTE, frozenset({
        "SSH_AUTH_SOCK", "KUBECONFIG", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
        "DOCKER_TLS_VERIFY", "CONTAINER_HOST", "CONTAINERS_CONF", "CONTAINER_CONNECTION",
        "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CONFIG_DIR", "HELM_PLUGINS",
    })),
    (_TLS, frozenset({
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "SSLKEYLOGFILE", "NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED",
    })),
    (_TERMINAL, frozenset({"TERMINFO", "TERMINFO_DIRS", "TERMCAP"})),
    (_PARSING, frozenset({"POSIXLY_CORRECT"})),
    # Sensitive although under PYTHON*: listed so the reason is specific.
    (_PYTHON, frozenset({"PYTHONWARNINGS", "PYTHONBREAKPOINT", "PYTHONSTARTUP"})),
)

SENSITIVE_NAMES: dict[str, str] = {
    name: reason for reason, names in _GROUPS for name in names
}

# -- prefixes and suffixes ---------------------------------------------------------

SENSITIVE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("LD_", _LOADER),
    ("DYLD_", _LOADER),
    ("BASH_FUNC_", "exports a shell function to every bash started"),
    ("XDG_", _CONFIG),
    ("LESSKEY", _CONFIG),
    ("GIT_", _GIT),
    ("PYTHON", _PYTHON),
    ("LUA_INIT", _RUNTIME),
    ("BUNDLE_", _RUNTIME),
    ("DOTNET_", _RUNTIME),
    ("CORECLR_", _RUNTIME),
    ("COMPlus_", _RUNTIME),
    ("CARGO_", _TOOLCHAIN),
    ("CGO_", _TOOLCHAIN),
    ("CMAKE_", _TOOLCHAIN),
    ("CCACHE_", _TOOLCHAIN),
    ("PKG_CONFIG", _TOOLCHAIN),
    ("PIP_", _PACKAGES),
    ("UV_", _PACKAGES),
    ("YARN_", _PACKAGES),
    ("COREPACK_", _PACKAGES),
    ("AWS_", _REMOTE),
    ("CLOUDSDK_", _REMOTE),
    ("TF_CLI_", _REMOTE),
    ("ANSIBLE_", _REMOTE),
    ("OPENSSL_", _TLS),
)
# npm reads `npm_config_*` whatever the case of the name (NPM_CONFIG_REGISTRY too).
NPM_CONFIG_PREFIX = "npm_config_"

SENSITIVE_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("PATH", _SEARCH),  # PYTHONPATH, NODE_PATH, CLASSPATH, LD_LIBRARY_PATH, MANPATH...
    ("PAGER", _PROGRAM),  # PAGER, MANPAGER, GIT_PAGER, SYSTEMD_PAGER...
    ("EDITOR", _PROGRAM),  # EDITOR, GIT_EDITOR, SUDO_EDITOR, KUBE_EDITOR...
    ("SHELL", _PROGRAM),  # SHELL, CONFIG_SHELL...
    ("ASKPASS", _PROGRAM),  # SSH_ASKPASS, GIT_ASKPASS, SUDO_ASKPASS
    ("_COMMAND", _PROGRAM),  # PROMPT_COMMAND, FZF_DEFAULT_COMMAND...
    ("_WRAPPER", _PROGRAM),  # RUSTC_WRAPPER, RUSTC_WORKSPACE_WRAPPER
    ("_LAUNCHER", _PROGRAM),  # CMAKE_<LANG>_COMPILER_LAUNCHER
    ("OPTIONS", _OPTIONS),  # NODE_OPTIONS, JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, TAR_OPTIONS...
    ("OPTS", _OPTIONS),  # JAVA_OPTS, MAVEN_OPTS, PYTEST_ADDOPTS...
    ("OPT", _OPTIONS),  # PERL5OPT, RUBYOPT, MANOPT, XZ_OPT...
    ("FLAGS", _OPTIONS),  # CFLAGS, LDFLAGS, RUSTFLAGS, MAKEFLAGS, GOFLAGS...
    ("_ARGS", _OPTIONS),  # CMAKE_ARGS...
    ("_HOME", _HOME_DIR),  # JAVA_HOME, CARGO_HOME, RUSTUP_HOME, GEM_HOME, CURL_HOME...
    ("_PROXY", _PROXY),
    ("_proxy", _PROXY),
)

# Exceptions to the prefix and suffix rules: data that changes no code.
HARMLESS_NAMES = frozenset({
    # PYTHON*
    "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONIOENCODING",
    "PYTHONFAULTHANDLER", "PYTHONUTF8", "PYTHONDEVMODE", "PYTHONTRACEMALLOC",
    "PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONOPTIMIZE", "PYTHONVERBOSE",
    "PYTHONCOERCECLOCALE", "PYTHONMALLOC", "PYTHONMALLOCSTATS", "PYTHONINTMAXSTRDIGITS",
    "PYTHONNODEBUGRANGES", "PYTHONPROFILEIMPORTTIME", "PYTHON_COLORS", "PYTHON_BASIC_REPL",
    "PYTHON_GIL", "PYTHON_CPU_COUNT",
    # GIT_*
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_TERMINAL_PROMPT",
    "GIT_OPTIONAL_LOCKS", "GIT_FLUSH", "GIT_NO_REPLACE_OBJECTS", "GIT_LFS_SKIP_SMUDGE",
    "GIT_PROGRESS_DELAY", "GIT_MERGE_VERBOSITY",
    # CARGO_*
    "CARGO_TERM_COLOR", "CARGO_TERM_VERBOSE", "CARGO_TERM_QUIET", "CARGO_TERM_PROGRESS_WHEN",
    "CARGO_TERM_PROGRESS_WIDTH", "CARGO_INCREMENTAL", "CARGO_BUILD_JOBS", "CARGO_NET_RETRY",
    # PIP_*, UV_*, YARN_*
    "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT", "PIP_PROGRESS_BAR", "PIP_NO_COLOR",
    "PIP_QUIET", "PIP_VERBOSE", "PIP_ROOT_USER_ACTION", "PIP_NO_CACHE_DIR",
    "PIP_DEFAULT_TIMEOUT", "PIP_REQUIRE_VIRTUALENV",
    "UV_NO_PROGRESS", "UV_LINK_MODE", "UV_HTTP_TIMEOUT", "UV_CONCURRENT_DOWNLOADS",
    "UV_COMPILE_BYTECODE", "UV_FROZEN", "UV_LOCKED", "UV_OFFLINE", "UV_NO_CACHE", "UV_NO_SYNC",
    "YARN_ENABLE_PROGRESS_BARS", "YARN_ENABLE_TELEMETRY", "YARN_ENABLE_COLORS",
    "YARN_ENABLE_IMMUTABLE_INSTALLS", "YARN_SILENT",
    # CGO_*, CMAKE_*, XDG_*, DOTNET_*
    "CGO_ENABLED", "CMAKE_BUILD_PARALLEL_LEVEL", "CMAKE_BUILD_TYPE", "CMAKE_COLOR_DIAGNOSTICS",
    "CMAKE_EXPORT_COMPILE_COMMANDS",
    "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP", "XDG_SESSION_DESKTOP",
    "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_NOLOGO", "DOTNET_SKIP_FIRST_TIME_EXPERIENCE",
    # *_PROXY: NO_PROXY only narrows proxying.
    "NO_PROXY", "no_proxy",
})
# npm_config_* settings that change only output (compared in lower case).
HARMLESS_NPM_SETTINGS = frozenset({
    "npm_config_loglevel", "npm_config_fund", "npm_config_audit",
    "npm_config_update_notifier", "npm_config_progress", "npm_config_color",
})

_PREFIX_STARTS = tuple(prefix for prefix, _ in SENSITIVE_PREFIXES)
_SUFFIX_ENDS = tuple(suffix for suffix, _ in SENSITIVE_SUFFIXES)
_NPM_PREFIX_LENGTH = len(NPM_CONFIG_PREFIX)


def sensitive_variable(name: str) -> str | None:
    """Why setting this environment/shell variable changes how programs load
    or run (e.g. "LD_PRELOAD steers the dynamic loader, ..."), or None when
    it is harmless data."""
    reason = SENSITIVE_NAMES.get(name)
    if reason is not None:
        return f"{name} {reason}"
    if name in HARMLESS_NAMES:
        return None
    if name[:_NPM_PREFIX_LENGTH].lower() == NPM_CONFIG_PREFIX:
        if name.lower() in HARMLESS_NPM_SETTINGS:
            return None
        return f"{name} {_PACKAGES}"
    if name.startswith(_PREFIX_STARTS):
        for prefix, reason in SENSITIVE_PREFIXES:
            if name.startswith(prefix):
                return f"{name} {reason}"
    if name.endswith(_SUFFIX_ENDS):
        for suffix, reason in SENSITIVE_SUFFIXES:
            if name.endswith(suffix):
                return f"{name} {reason}"
    return None
