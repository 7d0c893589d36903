"""Sensitive environment variables (`execpolicy.environment`).

The expected names are written out here rather than read from the module,
so a table edit shows up as a failing row; `test_every_entry_has_a_row`
makes sure each exact name, prefix, suffix and exception of the module is
exercised by a row below.
"""

from __future__ import annotations

import pytest

from execguard.execpolicy import environment
from execguard.execpolicy.environment import sensitive_variable

SENSITIVE = [
    # search paths, and zsh's arrays tied to them
    "PATH", "path", "cdpath", "fpath", "manpath", "module_path",
    "PYTHONPATH", "NODE_PATH", "CLASSPATH", "GIT_EXEC_PATH", "MANPATH", "CDPATH", "FPATH",
    "PKG_CONFIG_PATH", "GOPATH", "LD_LIBRARY_PATH", "MAILPATH", "TCLLIBPATH",
    # the dynamic loader and the C library
    "LD_PRELOAD", "LD_AUDIT", "LD_DEBUG_OUTPUT", "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH", "GLIBC_TUNABLES", "GCONV_PATH", "LOCPATH", "NLSPATH",
    "HOSTALIASES", "RESOLV_HOST_CONF", "GETCONF_DIR",
    # shell startup and state
    "BASH_ENV", "ENV", "PS0", "PS1", "PS2", "PS3", "PS4", "PROMPT_COMMAND",
    "BASH_FUNC_ls%%", "SHELLOPTS", "BASHOPTS", "EXECIGNORE", "BASH_CMDS", "BASH_ALIASES",
    "HISTFILE",
    # configuration homes
    "HOME", "ZDOTDIR", "INPUTRC", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "XDG_DATA_HOME",
    "XDG_CACHE_HOME", "XDG_RUNTIME_DIR", "GNUPGHOME", "WGETRC", "VIMINIT", "GVIMINIT",
    "EXINIT", "MYVIMRC", "VIMRUNTIME", "PHPRC", "PHP_INI_SCAN_DIR", "LESSKEY", "LESSKEYIN",
    "LESSKEY_SYSTEM",
    # programs other programs start
    "PAGER", "MANPAGER", "GIT_PAGER", "SYSTEMD_PAGER", "EDITOR", "VISUAL", "GIT_EDITOR",
    "SUDO_EDITOR", "KUBE_EDITOR", "BROWSER", "FCEDIT", "LESSOPEN", "LESSCLOSE", "SHELL",
    "CONFIG_SHELL", "SSH_ASKPASS", "GIT_ASKPASS", "SUDO_ASKPASS", "SSH_ASKPASS_REQUIRE",
    "FZF_DEFAULT_COMMAND", "RUSTC_WRAPPER", "RUSTC_WORKSPACE_WRAPPER",
    "CMAKE_C_COMPILER_LAUNCHER", "MAKE", "RSYNC_RSH", "RSYNC_CONNECT_PROG", "CVS_RSH",
    "CVS_SERVER", "DBUS_SESSION_BUS_ADDRESS", "DBUS_SYSTEM_BUS_ADDRESS",
    # options handed to programs
    "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "GREP_OPTIONS",
    "TAR_OPTIONS", "JAVA_OPTS", "MAVEN_OPTS", "PYTEST_ADDOPTS", "PERL5OPT", "RUBYOPT",
    "MANOPT", "XZ_OPT", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "RUSTFLAGS",
    "RUSTDOCFLAGS", "MAKEFLAGS", "MFLAGS", "GNUMAKEFLAGS", "CMAKE_ARGS", "MAVEN_ARGS", "LESS",
    "GZIP", "BZIP", "BZIP2", "XZ_DEFAULTS",
    # language runtimes
    "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYLIB", "NODE_REPL_EXTERNAL_MODULE", "R_PROFILE",
    "R_PROFILE_USER", "R_ENVIRON", "R_ENVIRON_USER", "R_LIBS", "R_LIBS_USER", "R_LIBS_SITE",
    "VIRTUAL_ENV", "CONDA_PREFIX", "PYTEST_PLUGINS", "GOFLAGS", "GOROOT", "GOBIN", "GOENV",
    "GOCACHE", "GOMODCACHE", "GOWORK", "GOTOOLCHAIN", "GOEXPERIMENT", "RUSTC", "RUSTDOC",
    "RUSTUP_TOOLCHAIN", "LUA_INIT", "LUA_INIT_5_4", "BUNDLE_GEMFILE", "DOTNET_STARTUP_HOOKS",
    "DOTNET_ROOT", "CORECLR_PROFILER_PATH", "COMPlus_EnableDiagnostics", "JAVA_HOME",
    "GEM_HOME", "RUSTUP_HOME", "CARGO_HOME", "CURL_HOME", "GRADLE_USER_HOME",
    # Python
    "PYTHONSTARTUP", "PYTHONHOME", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "PYTHONBREAKPOINT",
    "PYTHONINSPECT", "PYTHONWARNINGS", "PYTHONPYCACHEPREFIX", "PYTHONPLATLIBDIR",
    "PYTHON_KEYRING_BACKEND",
    # compilers and build tools
    "CC", "CXX", "CPP", "LD", "AR", "AS", "NM", "RANLIB", "STRIP", "OBJCOPY", "OBJDUMP", "FC",
    "F77", "LIBS", "MAKEFILES", "CARGO_BUILD_RUSTC", "CARGO_TARGET_DIR",
    "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER", "CGO_LDFLAGS", "CGO_CFLAGS",
    "CMAKE_TOOLCHAIN_FILE", "CCACHE_PREFIX", "PKG_CONFIG", "PKG_CONFIG_LIBDIR",
    # package managers
    "npm_config_registry", "NPM_CONFIG_SCRIPT_SHELL", "Npm_Config_Ignore_Scripts",
    "npm_config_yes", "YARN_NPM_REGISTRY_SERVER", "YARN_YARN_PATH", "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_PYTHON", "UV_CACHE_DIR", "COREPACK_NPM_REGISTRY",
    "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOSUMCHECK", "GONOPROXY", "GOPRIVATE", "GOINSECURE",
    "GOVCS", "RUSTUP_DIST_SERVER", "RUSTUP_UPDATE_ROOT",
    # git
    "GIT_SSH", "GIT_SSH_COMMAND", "GIT_DIR", "GIT_CONFIG_GLOBAL", "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF", "GIT_TRACE", "GIT_TRACE2_EVENT", "GIT_SSL_NO_VERIFY",
    "GIT_PROXY_COMMAND",
    # credentials, remote systems, TLS, proxies
    "SSH_AUTH_SOCK", "KUBECONFIG", "DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "CONTAINER_HOST", "CONTAINERS_CONF",
    "CONTAINER_CONNECTION", "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_ACCESS_KEY_ID",
    "GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "AZURE_CONFIG_DIR", "HELM_PLUGINS",
    "TF_CLI_ARGS", "TF_CLI_CONFIG_FILE", "ANSIBLE_CONFIG", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSLKEYLOGFILE", "NODE_EXTRA_CA_CERTS",
    "NODE_TLS_REJECT_UNAUTHORIZED", "OPENSSL_CONF", "OPENSSL_MODULES", "HTTP_PROXY",
    "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy", "RSYNC_PROXY",
    # terminals, argument parsing
    "TERMINFO", "TERMINFO_DIRS", "TERMCAP", "POSIXLY_CORRECT",
]

HARMLESS = [
    # common data
    "CI", "NODE_ENV", "RUST_BACKTRACE", "RUST_LOG", "FORCE_COLOR", "NO_COLOR", "TERM", "LANG",
    "LC_ALL", "LC_CTYPE", "TZ", "DEBUG", "DATABASE_URL", "COLUMNS", "LINES", "TMPDIR", "IFS",
    "USER", "DISPLAY", "HOSTNAME", "PWD", "GITHUB_ACTIONS", "PORT", "SECRET_KEY",
    # exceptions to PYTHON*
    "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED", "PYTHONIOENCODING",
    "PYTHONFAULTHANDLER", "PYTHONUTF8", "PYTHONDEVMODE", "PYTHONTRACEMALLOC",
    "PYTHONNOUSERSITE", "PYTHONSAFEPATH", "PYTHONOPTIMIZE", "PYTHONVERBOSE",
    "PYTHONCOERCECLOCALE", "PYTHONMALLOC", "PYTHONMALLOCSTATS", "PYTHONINTMAXSTRDIGITS",
    "PYTHONNODEBUGRANGES", "PYTHONPROFILEIMPORTTIME", "PYTHON_COLORS", "PYTHON_BASIC_REPL",
    "PYTHON_GIL", "PYTHON_CPU_COUNT",
    # exceptions to GIT_*
    "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "GIT_TERMINAL_PROMPT", "GIT_OPTIONAL_LOCKS",
    "GIT_FLUSH", "GIT_NO_REPLACE_OBJECTS", "GIT_LFS_SKIP_SMUDGE", "GIT_PROGRESS_DELAY",
    "GIT_MERGE_VERBOSITY",
    "CGO_ENABLED",
    # exceptions to CARGO_*, PIP_*, UV_*, YARN_*, CMAKE_*, XDG_*, DOTNET_*, *_PROXY
    "CARGO_TERM_COLOR", "CARGO_TERM_VERBOSE", "CARGO_TERM_QUIET", "CARGO_TERM_PROGRESS_WHEN",
    "CARGO_TERM_PROGRESS_WIDTH", "CARGO_INCREMENTAL", "CARGO_BUILD_JOBS", "CARGO_NET_RETRY",
    "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_INPUT", "PIP_PROGRESS_BAR", "PIP_NO_COLOR",
    "PIP_QUIET", "PIP_VERBOSE", "PIP_ROOT_USER_ACTION", "PIP_NO_CACHE_DIR",
    "PIP_DEFAULT_TIMEOUT", "PIP_REQUIRE_VIRTUALENV", "UV_NO_PROGRESS", "UV_LINK_MODE",
    "UV_HTTP_TIMEOUT", "UV_CONCURRENT_DOWNLOADS", "UV_COMPILE_BYTECODE", "UV_FROZEN",
    "UV_LOCKED", "UV_OFFLINE", "UV_NO_CACHE", "UV_NO_SYNC", "YARN_ENABLE_PROGRESS_BARS",
    "YARN_ENABLE_TELEMETRY", "YARN_ENABLE_COLORS", "YARN_ENABLE_IMMUTABLE_INSTALLS",
    "YARN_SILENT", "CMAKE_BUILD_PARALLEL_LEVEL", "CMAKE_BUILD_TYPE", "CMAKE_COLOR_DIAGNOSTICS",
    "CMAKE_EXPORT_COMPILE_COMMANDS", "XDG_SESSION_TYPE", "XDG_CURRENT_DESKTOP",
    "XDG_SESSION_DESKTOP", "DOTNET_CLI_TELEMETRY_OPTOUT", "DOTNET_NOLOGO",
    "DOTNET_SKIP_FIRST_TIME_EXPERIENCE", "NO_PROXY", "no_proxy",
    # npm settings that change only output, in any case
    "npm_config_loglevel", "npm_config_fund", "npm_config_audit", "npm_config_update_notifier",
    "npm_config_progress", "npm_config_color", "NPM_CONFIG_FUND",
    # case matters outside npm
    "Path", "ld_preload", "home", "pythonpath", "",
]


@pytest.mark.parametrize("name", SENSITIVE)
def test_sensitive(name: str) -> None:
    reason = sensitive_variable(name)
    assert reason is not None
    assert reason.startswith(name + " ")


@pytest.mark.parametrize("name", HARMLESS)
def test_harmless(name: str) -> None:
    assert sensitive_variable(name) is None


def test_reason_explains() -> None:
    assert sensitive_variable("LD_PRELOAD") == (
        "LD_PRELOAD steers the dynamic loader, which can load any library into every program")
    reason = sensitive_variable("PYTHONWARNINGS")
    assert reason is not None and "import" in reason


def test_every_entry_has_a_row() -> None:
    sensitive = set(SENSITIVE)
    assert set(environment.SENSITIVE_NAMES) <= sensitive
    for prefix, _ in environment.SENSITIVE_PREFIXES:
        assert any(name.startswith(prefix) for name in sensitive), prefix
    for suffix, _ in environment.SENSITIVE_SUFFIXES:
        assert any(name.endswith(suffix) for name in sensitive - set(
            environment.SENSITIVE_NAMES)), suffix
    harmless = set(HARMLESS)
    assert harmless >= environment.HARMLESS_NAMES
    assert harmless >= environment.HARMLESS_NPM_SETTINGS


def test_tables_are_consistent() -> None:
    # No name is both listed sensitive and excepted, and no exception is
    # dead (each one is caught by a prefix or suffix rule).
    assert not environment.HARMLESS_NAMES & set(environment.SENSITIVE_NAMES)
    starts = tuple(prefix for prefix, _ in environment.SENSITIVE_PREFIXES)
    ends = tuple(suffix for suffix, _ in environment.SENSITIVE_SUFFIXES)
    for name in environment.HARMLESS_NAMES:
        assert name.startswith(starts) or name.endswith(ends), name
    for name in environment.HARMLESS_NPM_SETTINGS:
        assert name.startswith(environment.NPM_CONFIG_PREFIX)
    # Each exact name is in one group only (a dict would hide a duplicate).
    total = sum(len(names) for _, names in environment._GROUPS)
    assert total == len(environment.SENSITIVE_NAMES)
