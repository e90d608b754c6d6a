"""Programming language of a source file from its name, extension and shebang line (GitHub Linguist names).

The table covers ~100 of the most used languages (GitHub's and The Stack's top languages plus the common
config/markup formats a repository holds). Order of evidence: exact file name (Makefile, Dockerfile), then
extension, then a shebang interpreter for scripts without one. A few extensions are shared by several
languages (.h, .m, .pl); a short content check settles those. The accuracy on Linguist's own samples, for
the languages the table covers, is measured in benchmarks/bench_codelang.py.
"""
from __future__ import annotations

import os
import re
from typing import Dict, Optional, Tuple

# language: (extensions, exact file names, shebang interpreters)
LANGUAGES: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]] = {
    "Python": ((".py", ".pyi", ".pyw", ".pyx", ".pxd", ".gyp", ".bzl"), ("SConstruct", "SConscript", "BUILD.bazel", "WORKSPACE"), ("python", "python2", "python3", "pypy", "pypy3")),
    "JavaScript": ((".js", ".mjs", ".cjs", ".jsx", ".jsm", ".es6", ".gs"), ("Jakefile",), ("node", "nodejs")),
    "TypeScript": ((".ts", ".mts", ".cts"), (), ("ts-node", "deno")),
    "TSX": ((".tsx",), (), ()),
    "Java": ((".java", ".jav"), (), ()),
    "C": ((".c", ".h", ".cats", ".idc"), (), ("tcc",)),
    "C++": ((".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".tcc", ".inl", ".ino"), (), ()),
    "C#": ((".cs", ".csx", ".cake"), (), ()),
    "Go": ((".go",), (), ()),
    "Rust": ((".rs",), (), ()),
    "Ruby": ((".rb", ".rbi", ".rake", ".gemspec", ".rbw", ".ru", ".podspec", ".thor", ".jbuilder"), ("Gemfile", "Rakefile", "Vagrantfile", "Podfile", "Guardfile", "Brewfile", "Capfile", "Dangerfile", "Steepfile", ".pryrc", ".irbrc", ".simplecov", "Fastfile", "Appfile"), ("ruby", "jruby", "rbx")),
    "PHP": ((".php", ".phtml", ".php3", ".php4", ".php5", ".phps", ".phpt"), (), ("php",)),
    "Swift": ((".swift",), (), ()),
    "Kotlin": ((".kt", ".kts", ".ktm"), (), ()),
    "Scala": ((".scala", ".sc", ".sbt"), (), ("scala",)),
    "Shell": ((".sh", ".bash", ".zsh", ".ksh", ".bats", ".command", ".tmux"), (".bashrc", ".bash_profile", ".bash_aliases", ".bash_functions", ".bash_logout", ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".profile", ".login", ".logout", ".xsession", ".xprofile", ".envrc", "PKGBUILD", "APKBUILD"), ("sh", "bash", "zsh", "ksh", "dash", "ash")),
    "PowerShell": ((".ps1", ".psm1", ".psd1"), (), ("pwsh", "powershell")),
    "Batchfile": ((".bat", ".cmd"), (), ()),
    "Perl": ((".pl", ".pm", ".t", ".pod", ".psgi", ".cgi", ".fcgi"), ("Makefile.PL", "cpanfile"), ("perl",)),
    "Raku": ((".raku", ".rakumod", ".p6", ".pm6", ".pl6", ".t6"), (), ("perl6", "raku", "rakudo")),
    "Lua": ((".lua", ".rockspec", ".nse"), (), ("lua", "luajit")),
    "R": ((".r", ".rd", ".rsx"), (".Rprofile",), ("Rscript",)),
    "Julia": ((".jl",), (), ("julia",)),
    "MATLAB": ((".matlab",), (), ()),
    "Objective-C": ((".m",), (), ()),
    "Objective-C++": ((".mm",), (), ()),
    "Haskell": ((".hs", ".hs-boot", ".hsc", ".lhs"), (), ("runhaskell",)),
    "OCaml": ((".ml", ".mli", ".mll", ".mly", ".eliom"), (), ("ocaml",)),
    "F#": ((".fs", ".fsi", ".fsx"), (), ()),
    "Elixir": ((".ex", ".exs"), ("mix.lock",), ("elixir",)),
    "Erlang": ((".erl", ".hrl", ".escript", ".app.src", ".xrl", ".yrl"), ("rebar.config",), ("escript",)),
    "Clojure": ((".clj", ".cljs", ".cljc", ".edn", ".boot"), (), ()),
    "Common Lisp": ((".lisp", ".lsp", ".cl", ".asd"), (), ("sbcl", "clisp")),
    "Emacs Lisp": ((".el", ".emacs"), (".emacs", "_emacs"), ()),
    "Scheme": ((".scm", ".ss", ".sld", ".sls"), (), ("guile", "racket")),
    "Racket": ((".rkt", ".rktl", ".rktd"), (), ()),
    "Dart": ((".dart",), (), ("dart",)),
    "Groovy": ((".groovy", ".gvy", ".gradle", ".gy"), ("Jenkinsfile",), ("groovy",)),
    "Visual Basic .NET": ((".vb", ".vbs"), (), ()),
    "Visual Basic 6.0": ((".frm", ".bas", ".cls", ".ctl"), (), ()),
    "Fortran": ((".f", ".f77", ".for", ".fpp"), (), ()),
    "Fortran Free Form": ((".f90", ".f95", ".f03", ".f08"), (), ()),
    "Pascal": ((".pas", ".pp", ".dpr", ".lpr", ".dfm"), (), ()),
    "Ada": ((".adb", ".ads", ".ada"), (), ()),
    "COBOL": ((".cob", ".cbl", ".ccp", ".cobol", ".cpy"), (), ()),
    "Assembly": ((".asm", ".s", ".nasm", ".a51", ".inc"), (), ()),
    "D": ((".d", ".di"), (), ()),
    "Nim": ((".nim", ".nims", ".nimble"), (), ()),
    "Zig": ((".zig",), (), ()),
    "V": ((".v", ".vsh"), (), ()),
    "Verilog": ((".vh",), (), ()),
    "SystemVerilog": ((".sv", ".svh"), (), ()),
    "VHDL": ((".vhd", ".vhdl", ".vht"), (), ()),
    "Crystal": ((".cr",), (), ("crystal",)),
    "CoffeeScript": ((".coffee", ".cake", ".cson", ".iced"), ("Cakefile",), ("coffee",)),
    "Elm": ((".elm",), (), ()),
    "PureScript": ((".purs",), (), ()),
    "Prolog": ((".pro", ".prolog", ".yap"), (), ("swipl",)),
    "Tcl": ((".tcl", ".tm", ".adp"), (), ("tclsh", "wish")),
    "AWK": ((".awk", ".gawk", ".mawk", ".nawk"), (), ("awk", "gawk", "mawk", "nawk")),
    "sed": ((".sed",), (), ("sed",)),
    "Vim Script": ((".vim", ".vba", ".vimrc"), (".vimrc", "_vimrc", ".gvimrc"), ()),
    "Smalltalk": ((".st",), (), ()),
    "Solidity": ((".sol",), (), ()),
    "Apex": ((".cls", ".trigger"), (), ()),
    "Hack": ((".hack", ".hhi"), (), ("hhvm",)),
    "GLSL": ((".glsl", ".frag", ".vert", ".geom", ".comp", ".fsh", ".vsh", ".shader", ".tesc", ".tese"), (), ()),
    "HLSL": ((".hlsl", ".fx", ".fxh", ".hlsli"), (), ()),
    "CUDA": ((".cu", ".cuh"), (), ()),
    "OpenCL": ((".cl", ".opencl"), (), ()),
    "Cython": ((".pyx", ".pxd", ".pxi"), (), ()),
    "SQL": ((".sql", ".ddl", ".udf", ".prc"), (), ()),
    "PLpgSQL": ((".pgsql",), (), ()),
    "PLSQL": ((".pls", ".plb", ".pck", ".pkb", ".pks"), (), ()),
    "HTML": ((".html", ".htm", ".xhtml", ".inc.html"), (), ()),
    "CSS": ((".css",), (), ()),
    "SCSS": ((".scss",), (), ()),
    "Sass": ((".sass",), (), ()),
    "Less": ((".less",), (), ()),
    "Vue": ((".vue",), (), ()),
    "Svelte": ((".svelte",), (), ()),
    "XML": ((".xml", ".xsd", ".xsl", ".xslt", ".wsdl", ".rss", ".atom", ".svg", ".csproj", ".vcxproj", ".props", ".targets", ".resx", ".xaml", ".nuspec", ".ant", ".pom", ".rdf", ".kml", ".xib", ".storyboard", ".plist", ".mxml", ".tld", ".jelly", ".ivy", ".builds", ".fsproj", ".vbproj", ".sln.xml"), ("pom.xml", "build.xml", ".classpath", ".project", "web.config", "packages.config"), ()),
    "JSON": ((".json", ".geojson", ".jsonl", ".webmanifest", ".har", ".topojson", ".avsc", ".gltf", ".mcmeta", ".webapp", ".yy", ".yyp"), (".arcconfig", "composer.lock", ".watchmanconfig", "flake.lock"), ()),
    "JSON with Comments": ((".jsonc", ".code-workspace", ".sublime-settings", ".sublime-project", ".sublime-keymap", ".sublime-commands", ".sublime-menu", ".sublime-build", ".json5"), ("tsconfig.json", "jsconfig.json", ".eslintrc.json", ".babelrc", ".jshintrc", "devcontainer.json", "tslint.json", "api-extractor.json", ".jscsrc", ".swcrc"), ()),
    "YAML": ((".yml", ".yaml", ".mir", ".reek", ".rviz", ".syntax", ".yaml-tmlanguage"), (".clang-format", ".clang-tidy", ".gemrc", "CITATION.cff", "glide.lock", ".clangd"), ()),
    "TOML": ((".toml",), ("Cargo.lock", "Pipfile", "poetry.lock", "pdm.lock", "uv.lock", "Gopkg.lock"), ()),
    "INI": ((".ini", ".cfg", ".prefs", ".properties", ".cnf", ".dof", ".url", ".service", ".socket", ".mount", ".target", ".timer", ".network", ".container", ".netdev", ".path", ".slice", ".automount", ".volume"), (".editorconfig", ".gitconfig", ".flake8", ".pylintrc", "buildozer.spec", "setup.cfg", ".coveragerc", "pylintrc"), ()),
    "Markdown": ((".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".ronn", ".scd", ".workbook", ".livemd"), ("contents.lr",), ()),
    "reStructuredText": ((".rst", ".rest", ".rst.txt"), (), ()),
    "AsciiDoc": ((".adoc", ".asciidoc", ".asc"), (), ()),
    "TeX": ((".tex", ".sty", ".cls", ".ltx", ".dtx", ".ins", ".bbx", ".cbx", ".lbx"), (), ()),
    "Org": ((".org",), (), ()),
    "Text": ((".txt", ".text", ".fr", ".nb", ".ncl", ".no"), ("README", "COPYING", "INSTALL", "AUTHORS", "CHANGELOG", "LICENSE", "NEWS", "COPYRIGHT", "FONTLOG", "click.me", "delete.me", "go.work.sum", "keep.me", "package.mask", "package.use.mask", "read.me", "README.me", "readme.1st", "test.me", "use.mask", "use.stable.mask"), ()),
    "Makefile": ((".mk", ".mak", ".make"), ("Makefile", "makefile", "GNUmakefile", "BSDmakefile", "Kbuild", "Makefile.am", "Makefile.in", "Makefile.inc", "Makefile.frag"), ("make",)),
    "CMake": ((".cmake", ".cmake.in"), ("CMakeLists.txt",), ()),
    "Dockerfile": ((".dockerfile", ".containerfile"), ("Dockerfile", "Containerfile"), ()),
    "Nix": ((".nix",), (), ()),
    "HCL": ((".hcl", ".tf", ".tfvars", ".nomad", ".workflow"), (), ()),
    "Protocol Buffer": ((".proto",), (), ()),
    "Thrift": ((".thrift",), (), ()),
    "GraphQL": ((".graphql", ".gql", ".graphqls"), (), ()),
    "Jupyter Notebook": ((".ipynb",), (), ()),
    "Diff": ((".diff", ".patch"), (), ()),
    "Gradle": ((".gradle",), (), ()),
    "Starlark": ((".star", ".bzl"), ("BUILD", "Tiltfile", "BUCK"), ()),
    "Handlebars": ((".handlebars", ".hbs"), (), ()),
    "Jinja": ((".jinja", ".j2", ".jinja2"), (), ()),
    "Twig": ((".twig",), (), ()),
    "Smarty": ((".tpl",), (), ()),
    "Mustache": ((".mustache",), (), ()),
    "Pug": ((".pug", ".jade"), (), ()),
    "Haml": ((".haml",), (), ()),
    "Slim": ((".slim",), (), ()),
    "Liquid": ((".liquid",), (), ()),
    "Roff": ((".roff", ".man", ".1", ".2", ".3", ".4", ".5", ".6", ".7", ".8", ".9", ".me", ".ms", ".mdoc", ".tmac", ".nr"), (), ()),
    "Ignore List": ((".gitignore", ".dockerignore", ".npmignore", ".eslintignore", ".prettierignore", ".vscodeignore", ".atomignore", ".babelignore", ".bzrignore", ".coffeelintignore", ".cvsignore", ".nodemonignore", ".stylelintignore", ".vercelignore", ".gcloudignore"), (".gitignore", ".dockerignore", ".npmignore", ".eslintignore", ".prettierignore", ".vscodeignore", ".atomignore", ".babelignore", ".bzrignore", ".coffeelintignore", ".cvsignore", ".nodemonignore", ".stylelintignore", ".vercelignore", ".gcloudignore", ".hgignore", ".git/info/exclude", "gitignore-global", "gitignore_global"), ()),
    "Dotenv": ((".env",), (".env", ".env.example", ".env.local", ".env.sample", ".env.development", ".env.production", ".env.test", ".env.ci", ".env.dev", ".env.prod", ".env.testing", ".env.staging", ".flaskenv"), ()),
    "CSV": ((".csv",), (), ()),
    "Gettext Catalog": ((".po", ".pot"), (), ()),
    "Puppet": ((".pp",), ("Modulefile",), ()),
    "Ansible": ((), (), ()),
    "Terra": ((".t",), (), ()),
    "Mermaid": ((".mmd", ".mermaid"), (), ()),
    "Rocq Prover": ((".v", ".coq"), (), ()),
    "Lean": ((".lean", ".hlean"), (), ()),
    "Agda": ((".agda",), (), ()),
    "Idris": ((".idr", ".lidr"), (), ()),
    "Standard ML": ((".sml", ".sig", ".fun"), (), ()),
    "Forth": ((".fth", ".4th", ".forth", ".fr", ".frt", ".fs"), (), ()),
    "Modelica": ((".mo",), (), ()),
    "Wolfram Language": ((".wl", ".wls", ".nb", ".mt", ".wlt", ".mathematica", ".ma"), (), ("wolframscript",)),
}

# Where two languages claim an extension, the first is the likelier in repositories (Linguist's priorities
# settle the rest with content checks; `_disambiguate` does the few that matter most).
_PRIORITY = ("C", "C++", "Objective-C", "Perl", "Python", "JavaScript", "Ruby", "Shell", "Rust", "Go", "Java",
             "TypeScript", "XML", "JSON", "YAML", "Markdown", "Text", "Forth", "Visual Basic 6.0", "TeX",
             "Common Lisp", "Pascal", "Rocq Prover", "Starlark", "Python", "GLSL", "Wolfram Language", "Roff",
             "Assembly", "Puppet")

BY_EXTENSION: Dict[str, str] = {}
BY_FILENAME: Dict[str, str] = {}
BY_INTERPRETER: Dict[str, str] = {}
for _lang in list(_PRIORITY) + list(LANGUAGES):
    _exts, _names, _interps = LANGUAGES[_lang]
    for _e in _exts:
        BY_EXTENSION.setdefault(_e.lower(), _lang)
    for _n in _names:
        BY_FILENAME.setdefault(_n, _lang)
    for _i in _interps:
        BY_INTERPRETER.setdefault(_i, _lang)

_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:\s+(\S+))?")
_VERSIONED = re.compile(r"[\d.]+$")


def _interpreter(head: bytes) -> Optional[str]:
    m = _SHEBANG.match(head)
    if not m:
        return None
    prog = os.path.basename(m.group(1).decode("utf-8", "replace"))
    if prog == "env" and m.group(2):
        arg = m.group(2).decode("utf-8", "replace")
        prog = arg if not arg.startswith("-") else prog
    return prog


def _disambiguate(ext: str, language: str, head: bytes) -> str:
    if ext == ".h" and re.search(rb"^\s*(class\s+\w+\s*[:{]|namespace\s+\w+|template\s*<|#include\s*<(iostream|string|vector|memory)>)", head, re.M):
        return "C++"
    if ext == ".h" and re.search(rb"^\s*(@interface|@protocol|#import\b)", head, re.M):
        return "Objective-C"
    if ext == ".m" and not re.search(rb"^\s*(@interface|@implementation|@protocol|#import\b|#include\b)", head, re.M):
        if re.search(rb"^\s*(function\b|%|end\s*$)", head, re.M):
            return "MATLAB"
    if ext == ".pl" and re.search(rb"^\s*:-\s", head, re.M) and not re.search(rb"^\s*(use|my|sub)\s", head, re.M):
        return "Prolog"
    if ext in (".pl", ".pm", ".t") and re.search(rb"^\s*(use\s+v6|unit\s+(class|module)|my\s+class)\b", head, re.M):
        return "Raku"
    if ext == ".v" and re.search(rb"^\s*(module\s+\w+|endmodule\b|`timescale)", head, re.M):
        return "Verilog"
    if ext in (".hh", ".php") and head.lstrip().startswith((b"<?hh", b"<?hack")):
        return "Hack"
    if ext == ".cls" and re.search(rb"\\(documentclass|NeedsTeXFormat|ProvidesClass)", head):
        return "TeX"
    if ext == ".cls" and re.search(rb"(?i)\b(public|private|global)\s+(with sharing\s+|without sharing\s+)?class\b", head):
        return "Apex"
    return language


def language_of(path: str, head: bytes = b"") -> Optional[str]:
    """Linguist name of the language of the file at `path` (its first bytes in `head` help for scripts
    and shared extensions); None when neither the name nor a shebang says."""
    name = os.path.basename(path)
    if name in BY_FILENAME:
        return BY_FILENAME[name]
    lower = name.lower()
    ext = ""
    # the longest known multi-dot extension first (.cmake.in, .app.src)
    dot = lower.find(".", 1 if lower.startswith(".") else 0)
    while dot >= 0:
        candidate = lower[dot:]
        if candidate in BY_EXTENSION:
            ext = candidate
            break
        dot = lower.find(".", dot + 1)
    if not ext and lower.startswith(".") and lower in BY_EXTENSION:
        ext = lower
    if ext:
        return _disambiguate(ext, BY_EXTENSION[ext], head[:8192])
    interpreter = _interpreter(head[:256])
    if interpreter:
        return BY_INTERPRETER.get(interpreter) or BY_INTERPRETER.get(_VERSIONED.sub("", interpreter))
    return None
