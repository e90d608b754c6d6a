"""Programming language of a source file from its name, extension, shebang and first bytes (GitHub Linguist names).

The table covers ~100 of the most used languages (GitHub's and The Stack's top languages plus the common
config/markup formats a repository holds), each with the extensions, file names and interpreters that
Linguist's languages.yml gives it. The order of evidence is Linguist's (lib/linguist/strategy/*): the exact
file name (Makefile, Dockerfile), an Emacs or Vim modeline, the shebang interpreter, the extension, an XML
declaration, a man-page name. Extensions that several languages claim (.h, .m, .pl, .pp, .v, .fs, .cl, .sql,
...) are settled by content rules over the first 8 KB, transcribed from Linguist's heuristics.yml; where
Linguist leaves the choice to its Bayesian classifier a few rules of our own do (marked "own"), and otherwise
the likeliest claimant (`_PRIORITY`) wins. A rule may name a language outside the table: the file is then not
one of ours and gets None (or the table language Linguist groups it under: Unix Assembly -> Assembly).

Trade-offs: regexes over a prefix are fast and explainable, and a file whose prefix says nothing falls back
to the likeliest language, where Linguist's classifier would weigh its tokens. A modeline is read only where
the name does not settle the language (Linguist reads it first everywhere), which spares most files the look.
The accuracy on Linguist's own samples, for the languages the table covers, and the speed are measured in
benchmarks/bench_codelang.py.
"""
from __future__ import annotations

import os
import re
from typing import Dict, FrozenSet, Optional, Pattern, Tuple

# Bytes of a file that the content checks read (callers pass data[:HEAD_BYTES]).
HEAD_BYTES = 8192

# language: (extensions, exact file names, shebang interpreters); ours first, then the rest of languages.yml's.
LANGUAGES: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...], Tuple[str, ...]]] = {
    "Python": ((".py", ".pyi", ".pyw", ".gyp", ".cgi", ".fcgi", ".gypi", ".lmi", ".py3", ".pyde", ".pyp", ".pyt", ".rpy", ".spec", ".tac", ".wsgi", ".xpy"), ("SConstruct", "SConscript", ".gclient", "DEPS", "wscript"), ("python", "python2", "python3", "pypy", "pypy3", "py", "uv")),
    "JavaScript": ((".js", ".mjs", ".cjs", ".jsx", ".jsm", ".es6", ".gs", "._js", ".bones", ".es", ".frag", ".jake", ".javascript", ".jsb", ".jscad", ".jsfl", ".jslib", ".jspre", ".jss", ".njs", ".pac", ".sjs", ".ssjs", ".xsjs", ".xsjslib"), ("Jakefile",), ("node", "nodejs", "bun", "chakra", "d8", "gjs", "js", "qjs", "rhino", "v8", "v8-shell")),
    "TypeScript": ((".ts", ".mts", ".cts"), (), ("ts-node", "deno", "bun", "tsx", "node")),
    "TSX": ((".tsx",), (), ()),
    "Java": ((".java", ".jav", ".jsh"), (), ()),
    "C": ((".c", ".h", ".cats", ".idc", ".h.in"), (), ("tcc",)),
    "C++": ((".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".tcc", ".inl", ".ino", ".cp", ".cppm", ".h", ".inc", ".ixx", ".re", ".tpp", ".txx"), (), ()),
    "C#": ((".cs", ".csx", ".cake", ".cs.pp", ".linq"), (), ()),
    "Go": ((".go",), (), ()),
    "Rust": ((".rs", ".rs.in"), (), ("rust-script",)),
    "Ruby": ((".rb", ".rbi", ".rake", ".gemspec", ".rbw", ".ru", ".podspec", ".thor", ".jbuilder", ".builder", ".eye", ".fcgi", ".god", ".mspec", ".pluginspec", ".prawn", ".rabl", ".rbuild", ".rbx", ".ruby", ".spec", ".watchr"), ("Gemfile", "Rakefile", "Vagrantfile", "Podfile", "Guardfile", "Brewfile", "Capfile", "Dangerfile", "Steepfile", ".pryrc", ".irbrc", ".simplecov", "Fastfile", "Appfile", "Appraisals", "Berksfile", "Buildfile", "Deliverfile", "Jarfile", "Mavenfile", "Puppetfile", "Snapfile", "Thorfile", "buildfile"), ("ruby", "jruby", "rbx", "macruby", "rake")),
    "PHP": ((".php", ".phtml", ".php3", ".php4", ".php5", ".phps", ".phpt", ".aw", ".ctp", ".fcgi", ".inc"), (".php", ".php_cs", ".php_cs.dist", "Phakefile"), ("php",)),
    "Swift": ((".swift",), (), ()),
    "Kotlin": ((".kt", ".kts", ".ktm"), (), ()),
    "Scala": ((".scala", ".sc", ".sbt", ".kojo"), (), ("scala",)),
    "Shell": ((".sh", ".bash", ".zsh", ".ksh", ".bats", ".command", ".tmux", ".cgi", ".fcgi", ".pacscript", ".sbatch", ".sh.in", ".slurm", ".tool", ".zsh-theme"), (".bashrc", ".bash_profile", ".bash_aliases", ".bash_functions", ".bash_logout", ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".profile", ".login", ".logout", ".xsession", ".xprofile", ".envrc", "PKGBUILD", "APKBUILD", ".bash_history", ".cshrc", ".flaskenv", ".kshrc", ".tmux.conf", ".xinitrc", "9fs", "bash_aliases", "bash_logout", "bash_profile", "bashrc", "cshrc", "gradlew", "kshrc", "login", "man", "mvnw", "profile", "tmux.conf", "xinitrc", "xsession", "zlogin", "zlogout", "zprofile", "zshenv", "zshrc"), ("sh", "bash", "zsh", "ksh", "dash", "ash", "mksh", "pdksh", "rc")),
    "PowerShell": ((".ps1", ".psm1", ".psd1"), (), ("pwsh", "powershell")),
    "Batchfile": ((".bat", ".cmd"), ("gradlew.bat", "mvnw.cmd"), ()),
    "Perl": ((".pl", ".pm", ".t", ".pod", ".psgi", ".cgi", ".fcgi", ".al", ".perl", ".ph", ".plx"), ("Makefile.PL", "cpanfile", ".latexmkrc", "Rexfile", "ack", "latexmkrc"), ("perl", "cperl")),
    "Raku": ((".raku", ".rakumod", ".p6", ".pm6", ".pl6", ".t6", ".6pl", ".6pm", ".nqp", ".p6l", ".p6m", ".pl", ".pm", ".t"), (), ("perl6", "raku", "rakudo")),
    "Lua": ((".lua", ".rockspec", ".nse", ".fcgi", ".p8", ".pd_lua", ".rbxs", ".wlua"), (".luacheckrc",), ("lua", "luajit")),
    "R": ((".r", ".rd", ".rsx", ".rhistory"), (".Rprofile", ".Rapp.history", ".Rhistory", "expr-dist"), ("Rscript",)),
    "Julia": ((".jl",), (), ("julia",)),
    "MATLAB": ((".matlab", ".m"), (), ()),
    "Objective-C": ((".m", ".h"), (), ()),
    "Objective-C++": ((".mm",), (), ()),
    "Haskell": ((".hs", ".hs-boot", ".hsc", ".lhs"), (), ("runhaskell", "runghc", "runhugs")),
    "OCaml": ((".ml", ".mli", ".mll", ".mly", ".eliom", ".eliomi", ".ml4"), (), ("ocaml", "ocamlrun", "ocamlscript")),
    "F#": ((".fs", ".fsi", ".fsx"), (), ()),
    "Elixir": ((".ex", ".exs"), ("mix.lock",), ("elixir",)),
    "Erlang": ((".erl", ".hrl", ".escript", ".app.src", ".xrl", ".yrl", ".app", ".es"), ("rebar.config", "Emakefile", "rebar.config.lock", "rebar.lock"), ("escript",)),
    "Clojure": ((".clj", ".cljs", ".cljc", ".edn", ".boot", ".bb", ".cl2", ".cljs.hl", ".cljscm", ".cljx", ".hic"), ("riemann.config",), ("bb",)),
    "Common Lisp": ((".lisp", ".lsp", ".cl", ".asd", ".l", ".ny", ".podsl", ".sexp"), (), ("sbcl", "clisp", "lisp", "ccl", "ecl")),
    "Emacs Lisp": ((".el", ".emacs", ".emacs.desktop"), (".emacs", "_emacs", ".abbrev_defs", ".emacs.desktop", ".gnus", ".spacemacs", ".viper", "Cask", "Eask", "Project.ede", "abbrev_defs"), ()),
    "Scheme": ((".scm", ".ss", ".sld", ".sls", ".sch", ".sps"), (), ("guile", "scheme", "bigloo", "chicken", "csi", "gosh", "r6rs")),
    "Racket": ((".rkt", ".rktl", ".rktd", ".scrbl"), (), ("racket",)),
    "Dart": ((".dart",), (), ("dart",)),
    "Groovy": ((".groovy", ".gvy", ".gy", ".grt", ".gtpl"), ("Jenkinsfile",), ("groovy",)),
    "Visual Basic .NET": ((".vb", ".vbs", ".vbhtml"), (), ()),
    "Visual Basic 6.0": ((".frm", ".bas", ".cls", ".ctl", ".dsr"), (), ()),
    "Fortran": ((".f", ".f77", ".for", ".fpp"), (), ()),
    "Fortran Free Form": ((".f90", ".f95", ".f03", ".f08"), (), ()),
    "Pascal": ((".pas", ".pp", ".dpr", ".lpr", ".dfm", ".inc", ".pascal"), (), ("instantfpc",)),
    "Ada": ((".adb", ".ads", ".ada"), (), ()),
    "COBOL": ((".cob", ".cbl", ".ccp", ".cobol", ".cpy"), (), ()),
    "Assembly": ((".asm", ".s", ".nasm", ".a51", ".inc", ".i", ".nas"), (), ()),
    "D": ((".d", ".di"), (), ()),
    "Nim": ((".nim", ".nims", ".nimble", ".nim.cfg", ".nimrod"), ("nim.cfg",), ()),
    "Zig": ((".zig", ".zig.zon"), (), ()),
    "V": ((".v", ".vsh"), (), ()),
    "Verilog": ((".v", ".veo"), (), ()),
    "SystemVerilog": ((".sv", ".svh", ".vh"), (), ()),
    "VHDL": ((".vhd", ".vhdl", ".vht", ".vhf", ".vhi", ".vho", ".vhs", ".vhw"), (), ()),
    "Crystal": ((".cr",), (), ("crystal",)),
    "CoffeeScript": ((".coffee", ".cake", ".cson", ".iced", "._coffee", ".cjsx", ".coffee.erb"), ("Cakefile",), ("coffee",)),
    "Elm": ((".elm",), (), ()),
    "PureScript": ((".purs",), (), ()),
    "Prolog": ((".pro", ".prolog", ".yap", ".pl", ".plt"), (), ("swipl", "yap")),
    "Tcl": ((".tcl", ".tm", ".adp", ".sdc", ".tcl.in", ".xdc"), ("owh", "starfield"), ("tclsh", "wish")),
    "Awk": ((".awk", ".auk", ".gawk", ".mawk", ".nawk"), (), ("awk", "gawk", "mawk", "nawk")),
    "sed": ((".sed",), (), ("sed", "gsed", "minised", "ssed")),
    "Vim script": ((".vim", ".vba", ".vimrc", ".vmb"), (".exrc", ".gvimrc", ".nvimrc", ".vimrc", "_vimrc", "gvimrc", "nvimrc", "vimrc"), ()),
    "Smalltalk": ((".st", ".cs"), (), ()),
    "Solidity": ((".sol",), (), ()),
    "Apex": ((".cls", ".trigger", ".apex"), (), ()),
    "Hack": ((".hack", ".hhi", ".hh", ".php"), (), ("hhvm",)),
    "GLSL": ((".glsl", ".frag", ".vert", ".geom", ".comp", ".fsh", ".vsh", ".shader", ".tesc", ".tese", ".fp", ".frg", ".fs", ".fshader", ".geo", ".glslf", ".glslv", ".gs", ".gshader", ".rchit", ".rmiss", ".vrx", ".vs", ".vshader"), (), ()),
    "HLSL": ((".hlsl", ".fx", ".fxh", ".hlsli", ".cginc"), (), ()),
    "Cuda": ((".cu", ".cuh"), (), ()),
    "OpenCL": ((".cl", ".opencl"), (), ()),
    "Cython": ((".pyx", ".pxd", ".pxi"), (), ()),
    "SQL": ((".sql", ".ddl", ".udf", ".prc", ".inc", ".mysql", ".tab", ".viw"), (), ()),
    "PLpgSQL": ((".pgsql", ".sql"), (), ()),
    "PLSQL": ((".pls", ".plb", ".pck", ".pkb", ".pks", ".bdy", ".ddl", ".fnc", ".plsql", ".prc", ".spc", ".sql", ".tpb", ".tps", ".trg", ".vw"), (), ()),
    "HTML": ((".html", ".htm", ".xhtml", ".inc.html", ".hta", ".html.hl", ".inc", ".xht"), (), ()),
    "CSS": ((".css",), (), ()),
    "SCSS": ((".scss",), (), ()),
    "Sass": ((".sass",), (), ()),
    "Less": ((".less",), (), ()),
    "Vue": ((".vue",), (), ()),
    "Svelte": ((".svelte",), (), ()),
    "XML": ((".xml", ".xsd", ".xsl", ".xslt", ".wsdl", ".rss", ".atom", ".svg", ".csproj", ".vcxproj", ".props", ".targets", ".resx", ".xaml", ".nuspec", ".ant", ".pom", ".rdf", ".kml", ".xib", ".storyboard", ".plist", ".mxml", ".tld", ".jelly", ".ivy", ".builds", ".fsproj", ".vbproj", ".sln.xml", ".adml", ".admx", ".axaml", ".axml", ".ccproj", ".ccxml", ".clixml", ".cproject", ".cscfg", ".csdef", ".csl", ".ct", ".depproj", ".dita", ".ditamap", ".ditaval", ".dll.config", ".dotsettings", ".filters", ".fxml", ".glade", ".gml", ".gmx", ".gpx", ".grxml", ".gst", ".hzp", ".icls", ".iml", ".jsproj", ".launch", ".mdpolicy", ".meta4", ".mjml", ".mm", ".mod", ".mojo", ".natvis", ".ncl", ".ndproj", ".nproj", ".odd", ".osm", ".pkgproj", ".pluginspec", ".proj", ".ps1xml", ".psc1", ".pt", ".pubxml", ".qhelp", ".rbxmx", ".res", ".rs", ".sch", ".scxml", ".sfproj", ".shproj", ".slnx", ".srdf", ".sublime-snippet", ".sw", ".tml", ".ts", ".tsx", ".typ", ".ui", ".urdf", ".ux", ".vsixmanifest", ".vssettings", ".vstemplate", ".vxml", ".wixproj", ".workflow", ".wsf", ".wxi", ".wxl", ".wxs", ".x3d", ".xacro", ".xlf", ".xliff", ".xmi", ".xml.dist", ".xmp", ".xproj", ".xspec", ".xul", ".zcml"), ("pom.xml", "build.xml", ".classpath", ".project", "web.config", "packages.config", ".cproject", "App.config", "NuGet.config", "Settings.StyleCop", "Web.Debug.config", "Web.Release.config", "Web.config"), ()),
    "JSON": ((".json", ".geojson", ".jsonl", ".webmanifest", ".har", ".topojson", ".avsc", ".gltf", ".mcmeta", ".webapp", ".yy", ".yyp", ".4dform", ".4dproject", ".ice", ".json-tmlanguage", ".json.example", ".sarif", ".slnlaunch", ".tact", ".tfstate", ".tfstate.backup"), (".arcconfig", "composer.lock", ".watchmanconfig", "flake.lock", ".all-contributorsrc", ".auto-changelog", ".c8rc", ".htmlhintrc", ".imgbotconfig", ".nycrc", ".releaserc", ".secrets.baseline", ".tern-config", ".tern-project", "MODULE.bazel.lock", "Package.resolved", "Pipfile.lock", "bun.lock", "deno.lock", "mcmod.info"), ()),
    "JSON with Comments": ((".jsonc", ".code-workspace", ".sublime-settings", ".sublime-project", ".sublime-keymap", ".sublime-commands", ".sublime-menu", ".sublime-build", ".json5", ".code-snippets", ".hujson", ".sublime-color-scheme", ".sublime-completions", ".sublime-macro", ".sublime-mousemap", ".sublime-theme", ".sublime-workspace", ".sublime_metrics", ".sublime_session", ".tsconfig.json"), ("tsconfig.json", "jsconfig.json", ".eslintrc.json", ".babelrc", ".jshintrc", "devcontainer.json", "tslint.json", "api-extractor.json", ".jscsrc", ".swcrc", ".devcontainer.json", ".eslintrc", ".jslintrc", ".oxlintrc.json", "language-configuration.json"), ()),
    "YAML": ((".yml", ".yaml", ".mir", ".reek", ".rviz", ".syntax", ".yaml-tmlanguage", ".sublime-syntax", ".yaml.sed", ".yml.mysql"), (".clang-format", ".clang-tidy", ".gemrc", "CITATION.cff", "glide.lock", ".clangd", ".eslintrc", ".releaserc", "pixi.lock", "yarn.lock"), ()),
    "TOML": ((".toml", ".toml.example"), ("Cargo.lock", "Pipfile", "poetry.lock", "pdm.lock", "uv.lock", "Gopkg.lock", "Cargo.toml.orig", "mise.local.lock", "mise.lock"), ()),
    "INI": ((".ini", ".cfg", ".prefs", ".properties", ".cnf", ".dof", ".url", ".service", ".socket", ".mount", ".target", ".timer", ".network", ".container", ".netdev", ".path", ".slice", ".automount", ".volume", ".frm", ".lektorproject", ".pro"), (".editorconfig", ".gitconfig", ".flake8", ".pylintrc", "buildozer.spec", "setup.cfg", ".coveragerc", "pylintrc", ".buckconfig", ".gitreview", "HOSTS", "hosts", "vlcrc"), ()),
    "Markdown": ((".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".ronn", ".scd", ".workbook", ".livemd", ".mdwn", ".mkdown"), ("contents.lr",), ()),
    "reStructuredText": ((".rst", ".rest", ".rst.txt", ".rest.txt"), (), ()),
    "AsciiDoc": ((".adoc", ".asciidoc", ".asc"), (), ()),
    "TeX": ((".tex", ".sty", ".cls", ".ltx", ".dtx", ".ins", ".bbx", ".cbx", ".lbx", ".aux", ".mkii", ".mkiv", ".mkvi", ".toc"), (), ()),
    "Org": ((".org",), (), ()),
    "Text": ((".txt", ".text", ".fr", ".nb", ".ncl", ".no"), ("README", "COPYING", "INSTALL", "AUTHORS", "CHANGELOG", "LICENSE", "NEWS", "COPYRIGHT", "FONTLOG", "click.me", "delete.me", "go.work.sum", "keep.me", "package.mask", "package.use.mask", "read.me", "README.me", "readme.1st", "test.me", "use.mask", "use.stable.mask", "CITATION", "CITATIONS", "COPYING.regex", "COPYRIGHT.regex", "INSTALL.mysql", "LICENSE.mysql", "README.mysql", "README.nss", "README.pc", "package.use.stable.mask"), ()),
    "Makefile": ((".mk", ".mak", ".make", ".d", ".makefile", ".mkfile"), ("Makefile", "makefile", "GNUmakefile", "BSDmakefile", "Kbuild", "Makefile.am", "Makefile.in", "Makefile.inc", "Makefile.frag", "Makefile.boot", "Makefile.pc", "Makefile.wat", "makefile.sco", "mkfile"), ("make",)),
    "CMake": ((".cmake", ".cmake.in"), ("CMakeLists.txt",), ()),
    "Dockerfile": ((".dockerfile", ".containerfile"), ("Dockerfile", "Containerfile"), ()),
    "Nix": ((".nix",), (), ()),
    "HCL": ((".hcl", ".tf", ".tfvars", ".nomad", ".workflow", ".tofu"), (), ()),
    "Protocol Buffer": ((".proto",), (), ()),
    "Thrift": ((".thrift",), (), ()),
    "GraphQL": ((".graphql", ".gql", ".graphqls"), (), ()),
    "Jupyter Notebook": ((".ipynb",), ("Notebook",), ()),
    "Diff": ((".diff", ".patch"), (), ()),
    "Gradle": ((".gradle",), (), ()),
    "Starlark": ((".star", ".bzl"), ("BUILD", "Tiltfile", "BUCK", "BUILD.bazel", "MODULE.bazel", "WORKSPACE", "WORKSPACE.bazel", "WORKSPACE.bzlmod"), ()),
    "Handlebars": ((".handlebars", ".hbs"), (), ()),
    "Jinja": ((".jinja", ".j2", ".jinja2"), (), ()),
    "Twig": ((".twig",), (), ()),
    "Smarty": ((".tpl",), (), ()),
    "Mustache": ((".mustache",), (), ()),
    "Pug": ((".pug", ".jade"), (), ()),
    "Haml": ((".haml", ".haml.deface"), (), ()),
    "Slim": ((".slim",), (), ()),
    "Liquid": ((".liquid",), (), ()),
    "Roff": ((".roff", ".man", ".1", ".2", ".3", ".4", ".5", ".6", ".7", ".8", ".9", ".me", ".ms", ".mdoc", ".tmac", ".nr", ".1in", ".1m", ".1x", ".3in", ".3m", ".3p", ".3pm", ".3qt", ".3x", ".l", ".n", ".rno"), ("eqnrc", "mmn", "mmt", "troffrc", "troffrc-end"), ()),
    "Ignore List": ((".gitignore", ".dockerignore", ".npmignore", ".eslintignore", ".prettierignore", ".vscodeignore", ".atomignore", ".babelignore", ".bzrignore", ".coffeelintignore", ".cvsignore", ".nodemonignore", ".stylelintignore", ".vercelignore", ".gcloudignore"), (".gitignore", ".dockerignore", ".npmignore", ".eslintignore", ".prettierignore", ".vscodeignore", ".atomignore", ".babelignore", ".bzrignore", ".coffeelintignore", ".cvsignore", ".nodemonignore", ".stylelintignore", ".vercelignore", ".gcloudignore", ".hgignore", ".git/info/exclude", "gitignore-global", "gitignore_global", ".agignore", ".ckignore", ".easignore", ".eleventyignore", ".eslint-ignore", ".ignore", ".markdownlintignore", ".rgignore"), ()),
    "Dotenv": ((".env",), (".env", ".env.example", ".env.local", ".env.sample", ".env.development", ".env.production", ".env.test", ".env.ci", ".env.dev", ".env.prod", ".env.testing", ".env.staging", ".flaskenv", ".env.development.local", ".env.template"), ()),
    "CSV": ((".csv",), (), ()),
    "Gettext Catalog": ((".po", ".pot"), (), ()),
    "Puppet": ((".pp",), ("Modulefile",), ()),
    "Terra": ((".t",), (), ("lua",)),
    "Mermaid": ((".mmd", ".mermaid"), (), ()),
    "Rocq Prover": ((".v", ".coq"), (), ()),
    "Lean": ((".lean", ".hlean"), (), ()),
    "Agda": ((".agda",), (), ()),
    "Idris": ((".idr", ".lidr"), (), ()),
    "Standard ML": ((".sml", ".sig", ".fun", ".ml"), (), ()),
    "Forth": ((".fth", ".4th", ".forth", ".fr", ".frt", ".fs", ".f", ".for"), (), ()),
    "Modelica": ((".mo",), (), ()),
    "Wolfram Language": ((".wl", ".wls", ".nb", ".mt", ".wlt", ".mathematica", ".ma", ".cdf", ".m", ".nbp"), (), ("wolframscript", "wolfram", "WolframKernel", "math", "MathKernel", "MathematicaScript", "WolframNB", "Mathematica")),
}

# Where two languages claim an extension, the first is the likelier in repositories (the content rules in
# `_HEURISTICS` settle the shared extensions that matter).
_PRIORITY = ("C", "C++", "Objective-C", "Perl", "Python", "JavaScript", "Ruby", "Shell", "Rust", "Go", "Java",
             "TypeScript", "XML", "JSON", "YAML", "Markdown", "Text", "Forth", "Visual Basic 6.0", "TeX",
             "Common Lisp", "Pascal", "Rocq Prover", "Starlark", "GLSL", "Wolfram Language", "Roff",
             "Assembly", "Puppet")

BY_EXTENSION: Dict[str, str] = {}
BY_FILENAME: Dict[str, str] = {}
BY_INTERPRETER: Dict[str, str] = {}
_EXTENSIONS_OF: Dict[str, FrozenSet[str]] = {}
_INTERPRETED_BY: Dict[str, Tuple[str, ...]] = {}  # every claimant, likeliest first (node: JavaScript, TypeScript)
for _lang in dict.fromkeys(list(_PRIORITY) + list(LANGUAGES)):
    _exts, _names, _interps = LANGUAGES[_lang]
    _EXTENSIONS_OF[_lang] = frozenset(e.lower() for e in _exts)
    for _e in _exts:
        BY_EXTENSION.setdefault(_e.lower(), _lang)
    for _n in _names:
        BY_FILENAME.setdefault(_n, _lang)
    for _i in _interps:
        BY_INTERPRETER.setdefault(_i, _lang)
        _INTERPRETED_BY[_i] = _INTERPRETED_BY.get(_i, ()) + (_lang,)

# Modeline mode names: a language's lowercased name (spaces as dashes) and its aliases in languages.yml.
_ALIASES = {
    "Python": ("py", "py3", "python3", "rusthon"), "JavaScript": ("js", "node"), "TypeScript": ("ts",),
    "TSX": ("typescriptreact",), "C++": ("cpp",), "C#": ("csharp", "cake", "cakescript"), "Go": ("golang",),
    "Rust": ("rs",), "Ruby": ("jruby", "macruby", "rake", "rb", "rbx"), "PHP": ("inc",),
    "Shell": ("sh", "shell-script", "bash", "zsh", "envrc"), "PowerShell": ("posh", "pwsh"),
    "Batchfile": ("bat", "batch", "dosbatch", "winbatch"), "Perl": ("cperl",), "Raku": ("perl6", "perl-6"),
    "R": ("rscript", "splus"), "MATLAB": ("octave",), "Objective-C": ("obj-c", "objc", "objectivec"),
    "Objective-C++": ("obj-c++", "objc++", "objectivec++"), "F#": ("fsharp",), "Common Lisp": ("lisp",),
    "Emacs Lisp": ("cask", "eask", "elisp", "emacs"),
    "Visual Basic .NET": ("visual basic", "vbnet", "vb .net", "vb.net"),
    "Visual Basic 6.0": ("vb6", "vb 6", "visual basic 6", "visual basic classic", "classic visual basic"),
    "Pascal": ("delphi", "objectpascal"), "Ada": ("ada95", "ada2005"), "Assembly": ("asm", "nasm"),
    "D": ("dlang",), "V": ("vlang",), "CoffeeScript": ("coffee", "coffee-script"), "Tcl": ("sdc", "xdc"),
    "Smalltalk": ("squeak",), "Cython": ("pyrex",), "HTML": ("xhtml",), "Less": ("less-css",),
    "XML": ("rss", "xsd", "wsdl"), "JSON": ("geojson", "jsonl", "sarif", "topojson"),
    "JSON with Comments": ("jsonc",), "YAML": ("yml",), "INI": ("conf", "dosini"), "Markdown": ("md", "pandoc"),
    "reStructuredText": ("rst",), "TeX": ("latex",), "Text": ("fundamental", "plain text"),
    "Makefile": ("bsdmake", "make", "mf"), "Dockerfile": ("containerfile",), "Nix": ("nixos",),
    "HCL": ("hashicorp configuration language", "opentofu", "terraform"),
    "Protocol Buffer": ("proto", "protobuf", "protocol buffers"), "Jupyter Notebook": ("ipython notebook",),
    "Diff": ("udiff",), "Starlark": ("bazel", "bzl"), "Handlebars": ("hbs", "htmlbars"),
    "Jinja": ("django", "html+django", "html+jinja", "htmldjango"),
    "Roff": ("groff", "man", "manpage", "man page", "man-page", "mdoc", "nroff", "troff"),
    "Ignore List": ("ignore", "gitignore", "git-ignore"), "Gettext Catalog": ("pot",),
    "Rocq Prover": ("coq", "rocq"), "Standard ML": ("sml",), "Vim script": ("vim", "viml", "nvim", "vimscript"),
    "Wolfram Language": ("mathematica", "mma", "wolfram", "wolfram lang", "wl"),
}
BY_ALIAS: Dict[str, str] = {}
for _lang in LANGUAGES:
    for _a in (_lang.lower().replace(" ", "-"),) + _ALIASES.get(_lang, ()):
        BY_ALIAS.setdefault(_a, _lang)

# Linguist's modeline regexes (strategy/modeline.rb), on the first and last 5 lines together.
_EMACS_MODELINE = re.compile(
    rb"-\*-(?:[ \t]*(?=[^:;\s]+[ \t]*-\*-)|(?:.*?[ \t;]|(?<=-\*-))[ \t]*mode[ \t]*:[ \t]*)"
    rb"([^:;\s]+)(?=[ \t;]|(?<![-*])-\*-).*?-\*-", re.I)
_VIM_MODELINE = re.compile(
    rb"(?:(?:^|[ \t])(?:vi|Vi(?=m))(?:m[<=>]?[0-9]+|m)?|[ \t]ex)"
    rb"(?=:(?=[ \t]*set?[ \t][^\r\n:]+:)|:(?![ \t]*set?[ \t]))"
    rb"(?:(?:[ \t]*:[ \t]*|[ \t])\w*(?:[ \t]*=(?:[^\\\s]|\\.)*)?)*"
    rb"[ \t:](?:filetype|ft|syntax)[ \t]*=(\w+)(?=$|\s|:)", re.M)
_SEARCH_LINES = 5
_FIRST_LINES = re.compile(rb"(?:[^\n]*\n){%d}" % _SEARCH_LINES)


def _modeline(head: bytes) -> Optional[str]:
    first = _FIRST_LINES.match(head)
    if first and len(head) < HEAD_BYTES:  # the whole file is here, so its last lines are too
        last = len(head) - 1
        for _ in range(_SEARCH_LINES):
            last = head.rfind(b"\n", 0, last)
            if last < 0:
                break
        chunk = head[:first.end()] + head[max(last + 1, first.end()):]
    else:
        chunk = head[:first.end()] if first else head
    # each regex only where what all its matches hold is there: most files skip both
    m = b"-*-" in chunk and _EMACS_MODELINE.search(chunk)
    if not m and (b"vim" in chunk or b"vi:" in chunk or b"Vim" in chunk or b"ex:" in chunk):
        m = _VIM_MODELINE.search(chunk)
    return BY_ALIAS.get(m.group(1).decode("ascii", "replace").lower()) if m else None


_VERSIONED = re.compile(r"[\d.]+$")
_EXEC_HACK = re.compile(rb"exec (\w+).+\$0.+\$@")  # `#!/bin/sh` then `exec tclsh "$0" "$@"`


def _interpreter(head: bytes) -> Optional[str]:
    """The program a `#!` line runs, as Linguist reads it (strategy/shebang.rb): `env` and its options and
    VAR=value assignments skipped (`#!/usr/bin/env -S uv run`), and the `exec` hack of `sh` scripts."""
    if not head.startswith(b"#!"):
        return None
    words = head[2:head.find(b"\n") if b"\n" in head else len(head)].split()
    if not words:
        return None
    prog = words[0].rsplit(b"/", 1)[-1]
    if prog == b"env":
        rest = [w for w in words[1:] if not w.startswith(b"-") and b"=" not in w]
        if not rest:
            return None
        prog = rest[0].rsplit(b"/", 1)[-1]
    if prog == b"sh":
        m = _EXEC_HACK.search(b"\n".join(head.split(b"\n", 5)[:5]))
        if m:
            prog = m.group(1)
    return prog.decode("utf-8", "replace")


def _interpreted(interpreter: str) -> Tuple[str, ...]:
    return _INTERPRETED_BY.get(interpreter) or _INTERPRETED_BY.get(_VERSIONED.sub("", interpreter), ())


# Content rules per shared extension, tried in order; the first that holds names the language. A rule is
# (language, patterns that must all match, a pattern that must not); language None means "a language outside
# the table". An extension whose rules all fail gets its table default unless the last rule has no pattern.
# Patterns are Linguist's (Ruby regexes: `^`/`$` always match at lines, hence re.M) unless marked "own".
_Rule = Tuple[Optional[str], Tuple[Pattern[bytes], ...], Optional[Pattern[bytes]]]
_HEURISTICS: Dict[str, Tuple[_Rule, ...]] = {}
_OTHER = None  # a language the table does not cover


# Ruby's `^\s*x` and `^\s+x`, searched with re.M in a head of blank lines, restart at every line and run over all
# the blank lines after it: quadratic (8 KB of newlines took seconds per pattern). Whitespace that spans lines
# only matters at the last line break before x, so they are searched as the equivalent, linear forms.
_LINE_BLANKS = ((re.compile(rb"(?<!\[)\^\\s\*"), rb"^[^\S\n]*"),
                (re.compile(rb"(?<!\[)\^\\s\+"), rb"(?:^[^\S\n]+|^[^\S\n]*\n[^\S\n]*)"))


def _linear(pattern: bytes) -> Pattern[bytes]:
    for blanks, linear in _LINE_BLANKS:
        pattern = blanks.sub(lambda _: linear, pattern)
    return re.compile(pattern, re.M)


def _rule(language: Optional[str], *patterns: bytes, unless: Optional[bytes] = None) -> _Rule:
    return (language, tuple(_linear(p) for p in patterns), _linear(unless) if unless else None)


def _heuristic(extensions: str, *rules: _Rule) -> None:
    for ext in extensions.split():
        _HEURISTICS[ext] = rules


# Linguist's named patterns.
_CPP = (rb"^\s*#\s*include <(cstdint|string|vector|map|list|array|bitset|queue|stack|forward_list|unordered_map"
        rb"|unordered_set|(i|o|io)stream)>|^\s*template\s*<|^[ \t]*(try|constexpr)|^[ \t]*catch\s*\("
        rb"|^[ \t]*(class|(using[ \t]+)?namespace)\s+\w+|^[ \t]*(private|public|protected):$"
        rb"|__has_cpp_attribute|__cplusplus >|std::\w+")
_OBJECTIVE_C = (rb"^\s*(@(interface|class|protocol|property|end|synchronised|selector|implementation)\b"
                rb"|#import\s+.+\.h[\">])")
_PERL = (rb"\buse\s+(?:strict\b|v?5\b)|^\s*use\s+(?:constant|overload)\b|^\s*(?:\*|(?:our\s*)?@)EXPORT\s*="
         rb"|^\s*package\s+[^\W\d]\w*(?:::\w+)*\s*(?:[;{]|\sv?\d)|[\s$][^\W\d]\w*(?::\w+)*->[a-zA-Z_\[({]")
_RAKU = rb"^\s*(?:use\s+v6\b|\bmodule\b|\b(?:my\s+)?class\b)"
_USE_V6 = rb"^\s*use\s+v6\b"
_FORTRAN = rb"^(?i:[c*][^abd-z]|      (subroutine|program|end|data)\s|[^\S\n]*!)"  # `\s*!`, one line (_linear)
_M68K = (rb"(?i:\bmoveq(?:\.l)?\s+#(?:\$-?[0-9a-f]{1,3}|%[0-1]{1,8}|-?[0-9]{1,3}),\s*d[0-7]\b"
         rb"|^\s*move(?:\.[bwl])?\s+(?:sr|usp),\s*[^\s]+|^\s*move\.[bwl]\s+.*\b[ad]\d|^\s*movem\.[bwl]\b"
         rb"|^\s*move[mp](?:\.[wl])?\b|^\s*btst\b|^\s*dbra\b)")
_JSON = rb"\A\s*[{\[]"
_VB_CLASS = rb"^[ ]*VERSION [0-9]\.[0-9] CLASS"
_VB_FORM = rb"^[ ]*VERSION [0-9]\.[0-9]{2}"
_XML_DECL = rb"(?i:^\s*(<\?xml|xmlns))"
_MARKUP = rb"\A\s*<(?:\?xml|!--|!DOCTYPE|/?[A-Za-z])"  # own: a file that opens with a tag is markup
_PLSQL = (rb"(?i:\$\$PLSQL_|XMLTYPE|systimestamp|\.nextval|CONNECT\s+BY|AUTHID\s+(DEFINER|CURRENT_USER)"
          rb"|constructor\W+function)")
_PLSQL_OWN = rb"(?i:\bdbms_\w+\.|^\s*create\s+(?:or\s+replace\s+)?package\b)"  # own: Oracle-only packages

_heuristic(".h", _rule("Objective-C", _OBJECTIVE_C), _rule("C++", _CPP), _rule("C"))
_heuristic(".m",
           _rule("Objective-C", _OBJECTIVE_C), _rule(_OTHER, rb":- module"),  # Mercury
           _rule("Forth", rb"^: "),  # MUF, which Linguist groups under Forth
           _rule(_OTHER, rb"^\s*;"),  # M (MUMPS)
           _rule("Wolfram Language", rb"\(\*", rb"\*\)$"), _rule("MATLAB", rb"^\s*%"),
           _rule(_OTHER, rb"^\w+\s*:\s*module\s*\{"),  # Limbo
           _rule("MATLAB", rb"^\s*(function\b|end\s*$)", unless=rb"^\s*#\s*include\b"))  # own
_heuristic(".pl",
           _rule("Prolog", rb"^[^#\n]*:-"), _rule("Perl", _PERL, unless=_USE_V6), _rule("Raku", _RAKU))
_heuristic(".pm",
           _rule("Perl", _PERL, unless=_USE_V6), _rule("Raku", _RAKU),
           _rule("C", rb"^\s*/\* XPM \*/"))  # X PixMap, grouped under C
_heuristic(".t",
           _rule("Perl", _PERL, unless=_USE_V6), _rule("Raku", rb"^\s*(?:use\s+v6\b|\bmodule\b|\bmy\s+class\b)"),
           _rule(_OTHER, rb"^\s*%[ \t]+|^\s*var\s+\w+(\s*:\s*\w+)?\s*:=\s*\w+"),  # Turing
           _rule("Terra", rb"\bterralib\.|^\s*terra\s+\w+\s*\("))  # own
_heuristic(".cl",
           _rule("Common Lisp", rb"^\s*\((?i:defun|in-package|defpackage) "), _rule(_OTHER, rb"^class"),  # Cool
           _rule("OpenCL", rb"/\* |// |^\}"))
_heuristic(".lisp .lsp",
           _rule("Common Lisp", rb"^\s*\((?i:defun|in-package|defpackage) "),
           _rule(_OTHER, rb"^\s*\(define "))  # NewLisp
_heuristic(".l",
           _rule("Common Lisp", rb"\(def(un|macro)\s"), _rule(_OTHER, rb"^(%[%{}]xs|<.*>)"),  # Lex
           _rule("Roff", rb"^\.[A-Za-z]{2}(\s|$)"), _rule(_OTHER))  # PicoLisp and the rest
_heuristic(".fs",
           _rule("Forth", rb"^(: |new-device)"), _rule("F#", rb"^\s*(#light|import|let|module|namespace|open|type)"),
           _rule("GLSL", rb"^\s*(#version|precision|uniform|varying|vec[234])"),
           _rule(_OTHER, rb"#include|#pragma\s+(rs|version)|__attribute__"))  # Filterscript
_heuristic(".v",
           # Linguist's `(?:^|\s)X` written `X(?<!\SX)`, the same matches that re can scan for
           _rule("Rocq Prover", rb"(?:Proof(?<!\SProof)|Qed(?<!\SQed))\.(?:$|\s)"
                                rb"|Require(?<!\SRequire)[ \t]+(Import|Export)\s"),
           _rule("Verilog", rb"^[ \t]*module\s+[^\s()]+\s+\#?\(|^[ \t]*`(?:define|ifdef|ifndef|include|timescale)"
                            rb"|^[ \t]*always[ \t]+@|^[ \t]*initial[ \t]+(begin|@)"),
           _rule("V", rb"\$(?:if|else)[ \t]|^[ \t]*fn\s+[^\s()]+\(.*?\).*?\{|^[ \t]*for\s*\{"),
           # own: `endmodule` and the other Verilog compiler directives
           _rule("Verilog", rb"^\s*endmodule\b|^[ \t]*`(?:pragma|celldefine|default_nettype|resetall|undef|else"
                            rb"|elsif|endif)\b"))
_heuristic(".pp",
           _rule("Pascal", rb"^\s*end[.;]"), _rule("Puppet", rb"^\s+\w+\s+=>\s"),
           # own: a Pascal unit/program header, then Puppet's `class|define|node name ... {` and `$var =`
           _rule("Pascal", rb"(?i:^\s*(?:unit|program|library)\s+[\w.]+\s*;|^\s*(?:interface|implementation|uses)\b)"),
           _rule("Puppet", rb"^\s*(?:class|define|node)\s+[\w:'\"]+[^;\n]*\{\s*$|^\s*\$\w+\s*=[^=~]"))
_heuristic(".sql",
           _rule("PLpgSQL", rb"(?i:^\\i\b|AS\s+\$\$|LANGUAGE\s+'?plpgsql'?|BEGIN(\s+WORK)?\s*;)"),
           # IBM Db2 SQL PL and T-SQL are dialects the table keeps under SQL
           _rule("SQL", rb"(?i:ALTER\s+MODULE|MODE\s+DB2SQL|\bSYS(CAT|PROC)\.|ASSOCIATE\s+RESULT\s+SET|\bEND!\s*$)"),
           _rule("PLSQL", _PLSQL), _rule("PLSQL", _PLSQL_OWN),
           _rule("SQL", rb"(?i:^\s*GO\b|BEGIN(\s+TRY|\s+CATCH)|OUTPUT\s+INSERTED|DECLARE\s+@|\[dbo\])"))
_heuristic(".ddl .prc", _rule("PLSQL", _PLSQL), _rule("PLSQL", _PLSQL_OWN))  # own: .sql's Oracle rules
_heuristic(".inc",
           _rule("Assembly", _M68K),  # Motorola 68K Assembly, grouped under Assembly
           _rule("PHP", rb"^<\?(?:php)?"),
           _rule(_OTHER, rb"^public\s+(?:SharedPlugin(?:\s+|:)__pl_\w+\s*=(?:\s*\{)?"
                         rb"|(?:void\s+)?__pl_\w+_SetNTVOptional\(\)(?:\s*\{)?)"
                         rb"|^methodmap\s+\w+\s+<\s+\w+|^\s*MarkNativeAsOptional\s*\("),  # SourcePawn
           _rule(_OTHER, rb"^\s*include\s*\(\s*(?:\"|')[\\/\w\-\.:\s]+\.(?:nasl|inc)\s*(?:\"|')\s*\)\s*;"
                         rb"|^\s*(?:global|local)_var\s+(?:\w+(?:\s*=\s*[\w\-\"']+)?\s*)"
                         rb"(?:,\s*\w+(?:\s*=\s*[\w\-\"']+)?\s*)*\s*;"
                         rb"|^\s*namespace\s+\w+\s*\{|^\s*object\s+\w+\s*(?:extends\s+\w+(?:::\w+)?)?\s*\{"
                         rb"|^\s*(?:public\s+|private\s+)?function\s+\w+\s*\([\w\s,]*\)\s*\{"),  # NASL
           _rule(_OTHER, rb"^\s*#(declare|local|macro|while)\s"),  # POV-Ray SDL
           _rule("Pascal", rb"(?i:^\s*\{\$(?:mode|ifdef|undef|define)[ ]+[a-z0-9_]+\})|^\s*end[.;]\s*$"),
           _rule(_OTHER, rb"^inherit(\s+[\w.-]+)+\s*$"),  # BitBake
           _rule("Assembly", rb"^(?i:[^\"m\n]*mov\s+[^\s]+,)|^\s+(?i:db\s+[a-z\d])"),
           _rule("HTML", _MARKUP))  # own
_heuristic(".cs", _rule("Smalltalk", rb"![\w\s]+methodsFor: "),
           _rule("C#", rb"^\s*(using\s+[A-Z][\s\w.]+;|namespace\s*[\w\.]+\s*(\{|;)|//)"))
_heuristic(".cake", _rule("C#", rb";[ \t\r]*$"), _rule("CoffeeScript", rb"(?:->|=>)[ \t\r]*$|\brequire\b"))  # own
_heuristic(".frag", _rule("GLSL", rb"^\s*(?:#version|precision\s+(?:lowp|mediump|highp)|layout\s*\(|void\s+main\s*\("
                                  rb"|(?:uniform|varying|attribute|in|out)\s+\w+\s+\w+)"
                                  rb"|\bgl_[A-Z]\w*|\b(?:vec|mat)[234]\b"))  # own
_heuristic(".gs",
           _rule("GLSL", rb"^#version\s+[0-9]+\b"), _rule(_OTHER, rb"^uses (java|gw)\."),  # Gosu
           _rule(_OTHER, rb"^\[indent=[0-9]+\]"))  # Genie
_heuristic(".es",
           _rule("Erlang", rb"^\s*(?:%%|main\s*\(.*?\)\s*->)"),
           _rule("JavaScript", rb"//|[\"']use strict[\"']|export\s+default\s|/\*[\s\S]*?\*/"))
_heuristic(".spec",  # own: Linguist leaves .spec to its classifier
           _rule(_OTHER, rb"^(?:Name|Version|Release|Summary|License|BuildRequires|Requires|Source\d*|Patch\d*)\s*:"
                         rb"|^%(?:description|prep|build|install|files|changelog|package)\b"),  # RPM Spec
           _rule("Ruby", rb"^\s*(?:require|describe|RSpec)\b"),
           _rule("Python", rb"^\s*(?:import|from)\s+\w|\b(?:Analysis|PYZ|EXE|COLLECT)\s*\("), _rule(_OTHER))
_heuristic(".rpy", _rule("Python", rb"^(import|from|class|def)\s"), _rule(_OTHER))  # else Ren'Py
_heuristic(".al", _rule(_OTHER, rb"\b(?i:(CODEUNIT|PAGE|PAGEEXTENSION|PAGECUSTOMIZATION|DOTNET|ENUM|ENUMEXTENSION"
                                rb"|VALUE|QUERY|REPORT|TABLE|TABLEEXTENSION|XMLPORT|PROFILE|CONTROLADDIN"
                                rb"|REPORTEXTENSION|INTERFACE|PERMISSIONSET|PERMISSIONSETEXTENSION|ENTITLEMENT))\b"),
           _rule("Perl"))  # AL, else Perl's AutoLoader
_heuristic(".app", _rule("Erlang", rb"^\{\s*(?:application|'application')\s*,\s*(?:[a-z]+[\w@]*|'[^']+')\s*,"
                                   rb"\s*\[[\s\S]*\]\s*\}\.[ \t]*$"), _rule(_OTHER))
_heuristic(".bb",
           _rule(_OTHER, rb"(<^\s*; |End Function)"),  # BlitzBasic
           _rule(_OTHER, rb"^(# |include|require|inherit)\b"),  # BitBake
           _rule("Clojure", rb"\((def|defn|defmacro|let)\s"), _rule(_OTHER))
_heuristic(".toc",
           _rule(_OTHER, rb"^## |@no-lib-strip@"),  # World of Warcraft Addon Data
           _rule("TeX", rb"^\\(contentsline|defcounter|beamer|boolfalse)"), _rule(_OTHER))
_heuristic(".i",
           _rule("Assembly", _M68K), _rule(_OTHER, rb"^[ \t]*%[a-z_]+\b|^%[{}]$"),  # SWIG
           _rule("Assembly", rb"(?i:mov\s+[^\s]+,)|^\s+(?i:i?db\s+[a-z\d])"), _rule(_OTHER))
_heuristic(".re",
           _rule(_OTHER, rb"^\s*module\s+type\s|^\s*(?:include|open)\s+\w+\s*;\s*$"
                         rb"|^\s*let\s+(?:module\s\w+\s*=\s*\{|\w+:\s+.*=.*;\s*$)"),  # Reason
           _rule("C++", rb"^\s*#(?:(?:if|ifdef|define|pragma)\s+\w|\s*include\s+<[^>]+>)|^\s*template\s*<"),
           _rule(_OTHER))
_heuristic(".d",
           _rule("D", rb"^module\s+[\w.]*\s*;|import\s+[\w\s,.:]*;|\b\w+\s+\w+\s*\(.*\)(?:\(.*\))?\s*\{[^}]*\}"
                      rb"|unittest\s*(?:\(.*\))?\s*\{[^}]*\}"),
           _rule(_OTHER, rb"^(\w+:\w*:\w*:\w*|BEGIN|END|provider\s+|(tick|profile)-\w+\s+\{[^}]*\}"
                         rb"|#pragma\s+D\s+(option|attributes|depends_on)\s|#pragma\s+ident\s)"),  # DTrace
           # Linguist's `[\w\s/\\.]+\w+\.` kept to one line ([ \t]) and as `...]+\w\.` (the same names): spanning
           # lines, and with two overlapping runs, it backtracked over 8 KB
           _rule("Makefile", rb"([/\\].*:\s+.*\s\\$|: \\$|^[ %]:"
                             rb"|^[\w \t/\\.]+\w\.\w+[ \t]*:[ \t]+[\w \t/\\.]+\w\.\w+)"))
_heuristic(".f",
           _rule("Forth", rb"^: "), _rule(_OTHER, rb"flowop"),  # Filebench WML
           _rule("Fortran", _FORTRAN), _rule("Fortran"))
_heuristic(".for", _rule("Forth", rb"^: "), _rule("Fortran", _FORTRAN), _rule("Fortran"))
_heuristic(".fr",
           _rule("Forth", rb"^(: |also |new-device|previous )"),
           _rule(_OTHER, rb"^\s*(import|module|package|data|type) "), _rule("Text"))  # Frege
_heuristic(".pro",
           _rule(_OTHER, rb"^-(include\b.*\.pro$|keep\b|keepclassmembers\b|keepattributes\b)"),  # Proguard
           _rule("Prolog", rb"^[^\[#\n]*:-"), _rule("INI", rb"last_client="),
           _rule(_OTHER, rb"HEADERS", rb"SOURCES"), _rule(_OTHER, rb"^\s*(?i:function|pro|compile_opt) \w[ \w,:]*$"),
           _rule(_OTHER))  # QMake, IDL; a Prolog file without `:-` is rare, a QMake file without both lists not
_heuristic(".plt", _rule("Prolog", rb"^\s*:-"), _rule(_OTHER))  # else Gnuplot
_heuristic(".frm",
           _rule(_OTHER, _VB_FORM, rb"^\s*Begin\s+\{[0-9A-Z\-]*\}\s?"),  # VBA
           _rule("Visual Basic 6.0", _VB_FORM, rb"^\s*Begin\s+VB\.Form\s+"), _rule("INI", rb"\ATYPE=VIEW"))
_heuristic(".cls",
           _rule("Visual Basic 6.0", _VB_CLASS,
                 rb"^\s*BEGIN(?:\r?\n|\r)\s*MultiUse\s*=.*(?:\r?\n|\r)\s*Persistable\s*="),
           _rule(_OTHER, _VB_CLASS),  # VBA
           _rule("TeX", rb"^\s*\\(?:NeedsTeXFormat|ProvidesClass)\{"), _rule(_OTHER, rb"^Class\s"),  # ObjectScript
           _rule("TeX", rb"\\(?:documentclass|LoadClass|DeclareOption)\b"),  # own
           _rule("Apex", rb"(?i)\b(public|private|global)\s+(?:(?:with|without|inherited)\s+sharing\s+|virtual\s+"
                         rb"|abstract\s+)*(class|interface|enum)\b"),  # own
           _rule(_OTHER))  # OpenEdge ABL and the rest: a VB6 class always opens with its VERSION header
_heuristic(".ml", _rule("OCaml", rb"(^\s*module)|let rec |match\s+(\S+\s)+with"),
           _rule("Standard ML", rb"=> |case\s+(\S+\s)+of"))
_heuristic(".rs",
           _rule("Rust", rb"^(use |fn |mod |pub |macro_rules|impl|#!?\[)"),
           _rule(_OTHER, rb"#include|#pragma\s+(rs|version)|__attribute__"),  # RenderScript
           _rule("XML", rb"^\s*<\?xml"))
_heuristic(".ts", _rule("XML", rb"<TS\b"))  # Qt Linguist translations
_heuristic(".tsx", _rule("XML", rb"(?i:^\s*<\?xml\s+version)"), _rule("TSX"))
_heuristic(".ncl",
           _rule("XML", rb"^\s*<\?xml\s+version"), _rule(_OTHER, rb"^[DGMT][0-9]{2}\*\r?$"),  # Gerber Image
           _rule(_OTHER, rb"^let(?:\srec)?(?:\s[a-zA-Z_][a-zA-Z0-9_]*)?|^import\s\"[^\"]+\"\s+as\s"
                         rb"|std\.[a-zA-Z_][a-zA-Z0-9_]*\."),  # Nickel
           _rule("Text", rb"THE_TITLE"), _rule(_OTHER, rb"^load \"|^begin$|[0-9]\.$|^;"), _rule("Text"))  # NCL
_heuristic(".nb", _rule("Wolfram Language", rb"\A\s*\(\* Content-type: application/vnd\.wolfram|^Notebook\["))  # own
_heuristic(".mod", _rule("XML", rb"<!ENTITY "), _rule("XML", _MARKUP), _rule(_OTHER))  # AMPL, Modula-2, NMODL, ...
_heuristic(".mojo", _rule(_OTHER, rb"^\s*(alias|def|from|fn|import|struct|trait)\s"),  # Mojo
           _rule("XML", rb"^\s*<\?xml"), _rule(_OTHER))
_heuristic(".typ", _rule(_OTHER, rb"^#(import|show|let|set)"), _rule("XML", _MARKUP), _rule(_OTHER))  # Typst
_heuristic(".sw", _rule(_OTHER, rb"^\s*(?:(?:abi|dep|fn|impl|mod|pub|trait)\s|#\[)"),  # Sway
           _rule("XML", rb"^\s*<\?xml\s+version"), _rule(_OTHER))
_heuristic(".csl .gml", _rule("XML", _XML_DECL), _rule(_OTHER))  # Kusto; Game Maker, Graph Modeling Language
_heuristic(".builds", _rule("XML", rb"^\s*(?i:<Project|<Import|<Property|<\?xml|xmlns)"), _rule(_OTHER))
_heuristic(".res", _rule(_OTHER, rb"^\s*(let|module|type)\s+\w*\s+=\s+|^\s*(?:include|open)\s+\w+\s*$"),  # ReScript
           _rule("XML", _MARKUP), _rule(_OTHER))
_heuristic(".plist", _rule("XML", rb"^\s*(?:<\?xml\s|<!DOCTYPE\s+plist|<plist(?:\s+version\s*=\s*[\"']\d+"
                                  rb"(?:\.\d+)?[\"'])?\s*>\s*$)"), _rule(_OTHER))  # OpenStep Property List
# own: where Linguist's classifier decides between XML and a language that never opens with a tag
_heuristic(".mm", _rule("XML", _MARKUP), _rule("Objective-C++"))  # FreeMind maps
_heuristic(".workflow", _rule("XML", _MARKUP), _rule("HCL"))
_heuristic(".pluginspec", _rule("XML", _MARKUP), _rule("Ruby"))
_heuristic(".gst", _rule("XML", _MARKUP), _rule(_OTHER))  # Gosu
_heuristic(".sch",
           _rule(_OTHER, rb"<!DOCTYPE eagle|<eagle\b|\A\s*(?:EESchema|\(kicad_sch)"),  # Eagle, KiCad
           _rule("XML", _MARKUP), _rule("Scheme", rb"^\s*[(;]"), _rule(_OTHER))
_heuristic(".yy .ice", _rule("JSON", _JSON), _rule(_OTHER))  # Yacc, Slice
_heuristic(".tact", _rule("JSON", rb"\A\s*\{\""), _rule(_OTHER))  # Tact
_heuristic(".asc",
           _rule(_OTHER, rb"^(----[- ]BEGIN|ssh-(rsa|dss)) "),  # Public Key
           _rule("AsciiDoc", rb"^[=-]+\s|\{\{[A-Za-z]"),
           _rule(_OTHER, rb"^(//.+|((import|export)\s+)?(function|int|float|char)\s+((room|repeatedly|on|game)_)?"
                         rb"([A-Za-z]+[A-Za-z_0-9]+)\s*[;\(])"))  # AGS Script
_heuristic(".ms",
           _rule("Roff", rb"^[.'][A-Za-z]{2}(\s|$)"),
           _rule("Assembly", rb"^\s*\.(?:include\s|globa?l\s|[A-Za-z][_A-Za-z0-9]*:)", unless=rb"/\*"),  # Unix Assembly
           _rule(_OTHER))  # MAXScript
_heuristic(".n", _rule("Roff", rb"^[.']"), _rule(_OTHER))  # else Nemerle
_heuristic(".nr", _rule("Roff", rb"^\."), _rule(_OTHER))  # else Noir
_heuristic(".rno",
           _rule(_OTHER, rb"(?i:^\.!|^\f|\f$|^\.end lit(?:eral)?\b|^\.[a-zA-Z].*?;\.[a-zA-Z](?:[; \t])"
                         rb"|\^\*[^\s*][^*]*\\\*(?:$|\s)|^\.c;[ \t]*\w+)"),  # RUNOFF
           _rule("Roff", rb"^\.\\\" "), _rule(_OTHER))
_heuristic(".sc", _rule(_OTHER, rb"(?i:\^(this|super)\.|^\s*~\w+\s*=\.)"),  # SuperCollider
           _rule("Scala", rb"(^\s*import (scala|java)\.|^\s*class\b)"))
_heuristic(".scd", _rule(_OTHER, rb"(?i:\^(this|super)\.|^\s*(~\w+\s*=\.|SynthDef\b))"),  # SuperCollider
           _rule("Markdown", rb"^#+\s+(NAME|SYNOPSIS|DESCRIPTION)"), _rule(_OTHER))
_heuristic(".st",
           _rule(_OTHER, rb"\$\w+[($]|.!\s*.+?\s*!.|<!\s*.+?\s*!>|\[!\s*.+?\s*!\]|\{!\s*.+?\s*!\}"),  # StringTemplate
           _rule("Smalltalk", rb"\A\s*[\[{(^\"'\w#]|[a-zA-Z_]\w*\s*:=\s*[a-zA-Z_]\w*|class\s*>>\s*[a-zA-Z_]\w*"
                              rb"|^[a-zA-Z_]\w*\s+[a-zA-Z_]\w*:|^Class\s*\{|if(?:True|False):\s*\["))
_heuristic(".star", _rule(_OTHER, rb"^loop_\s*$"), _rule("Starlark"))  # STAR
_heuristic(".tpl", _rule(_OTHER, rb"\{\{-?\s*(`?\"\\?\"?|/\*\s|\w*)\b"),  # Go Template
           _rule("Smarty", rb"(?<!\{)\{(\*\s|\$|/)?\w*\b"))
_heuristic(".cgi .fcgi", _rule("PHP", rb"\A\s*<\?php"))  # own; scripts with a shebang never get here
_heuristic(".hh .php", _rule("Hack", rb"\A\s*<\?(?:hh|hack)\b"))


# own: file names that two languages of the table claim (Linguist leaves them to its classifier)
_FILENAME_HEURISTICS: Dict[str, Tuple[_Rule, ...]] = {
    ".eslintrc": (_rule("JSON with Comments", _JSON), _rule("YAML")),
    ".releaserc": (_rule("JSON", _JSON), _rule("YAML")),
}


def _disambiguate(rules: Tuple[_Rule, ...], default: Optional[str], head: bytes) -> Optional[str]:
    for language, patterns, unless in rules:
        if all(p.search(head) for p in patterns) and not (unless and unless.search(head)):
            return language
    return default


_MANPAGE = re.compile(r"\.(?:[1-9](?![0-9])[a-z_0-9]*|0p|n|man|mdoc)(?:\.in)?$", re.I)
_BOM = b"\xef\xbb\xbf"


def _extension(lower: str) -> str:
    """The longest extension of the (lowercased) name that the table knows: .cmake.in before .in."""
    dot = lower.find(".", 1 if lower.startswith(".") else 0)
    while dot >= 0:
        if lower[dot:] in BY_EXTENSION:
            return lower[dot:]
        dot = lower.find(".", dot + 1)
    return lower if lower.startswith(".") and lower in BY_EXTENSION else ""


def language_of(path: str, head: bytes = b"") -> Optional[str]:
    """Linguist name of the language of the file at `path` (its first HEAD_BYTES in `head` help for scripts
    and shared extensions); None when neither the name, a modeline, a shebang nor the content says, or when
    the content says a language the table does not cover."""
    head = head[len(_BOM):HEAD_BYTES + len(_BOM)] if head.startswith(_BOM) else head[:HEAD_BYTES]
    name = os.path.basename(path)
    if name in BY_FILENAME:
        rules = _FILENAME_HEURISTICS.get(name)
        return (_modeline(head) or _disambiguate(rules, BY_FILENAME[name], head)) if rules else BY_FILENAME[name]
    ext = _extension(name.lower())
    rules = _HEURISTICS.get(ext) if ext else None
    # Linguist reads a modeline first; read here only where the name does not settle the language (a shared or
    # unknown extension), which spares most files the look and differs only where a modeline contradicts a
    # unique extension (a .c file marked `-*- C++ -*-`)
    mode = _modeline(head) if rules or not ext else None
    if mode:
        return mode
    interpreter = _interpreter(head)
    if interpreter:
        claimants = _interpreted(interpreter)
        if claimants:  # the shebang wins; the extension only picks among its claimants (node: .ts -> TypeScript)
            return next((lang for lang in claimants if ext in _EXTENSIONS_OF[lang]), claimants[0])
    if ext:
        return _disambiguate(rules, BY_EXTENSION[ext], head) if rules else BY_EXTENSION[ext]
    second_line_end = head.find(b"\n", head.find(b"\n") + 1)
    if b"<?xml version=" in (head if second_line_end < 0 else head[:second_line_end]):  # strategy/xml.rb
        return "XML"
    if _MANPAGE.search(name):
        return "Roff"
    return None
