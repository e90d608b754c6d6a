"""Language of a file where its extension or name is shared (pipelines/ingest/codelang.py): Linguist's
heuristics.yml content rules and its other strategies (shebang, modeline, XML declaration), each checked in
both directions on realistic snippets; the rules' cost on hostile heads; and the accuracy on Linguist's own
samples in ../shared/data/code."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from pipelines.ingest import codelang
from pipelines.ingest.codelang import LANGUAGES, language_of

PUPPET_CLASS = b"""class nginx::service {
  service { 'nginx':
    ensure     => running,
    enable     => true,
    hasrestart => true,
  }
}
"""
PUPPET_NODE = b"""node default {
  stage {
    "one": ;
    "two": ;
  }
  class {
    "web": stage => "one";
  }
}
"""
PUPPET_DEFINE = b"""define apache::vhost($port, $docroot) {
  $conf = "/etc/apache2/sites-enabled/${name}.conf"
  file { $conf:
    content => template('apache/vhost.erb'),
  }
}
"""
PASCAL_UNIT = b"""unit StrUtilsEx;

{$mode objfpc}{$H+}

interface

uses
  SysUtils, Classes;

function Reverse(const S: string): string;

implementation

function Reverse(const S: string): string;
var
  I: Integer;
begin
  Result := '';
  for I := Length(S) downto 1 do
    Result := Result + S[I];
end;

end.
"""
PASCAL_PROGRAM_HEAD = b"""program Hello;

uses
  Crt;

const
  Greeting = 'Hello';
"""  # cut before its `end.`, as an 8 KB head cuts a long unit

OPENCL_KERNEL = b"""// element-wise sum
__kernel void vector_add(__global const float *a,
                         __global const float *b,
                         __global float *c)
{
    int i = get_global_id(0);
    c[i] = a[i] + b[i];
}
"""
COMMON_LISP = b"""(in-package :cl-user)

(defun square (x)
  "Return X squared."
  (* x x))
"""
COOL = b"""class Main inherits IO {
   main(): SELF_TYPE { out_string("Hello, World.\\n") };
};
"""

FSHARP = b"""module Geometry

open System

type Point = { X: float; Y: float }

let distance p q = Math.Sqrt((p.X - q.X) ** 2.0 + (p.Y - q.Y) ** 2.0)
"""
FORTH = b""": square ( n -- n*n )  dup * ;
: cube ( n -- n^3 )  dup square * ;
5 cube .
"""
GLSL_FRAGMENT = b"""#version 330 core
in vec2 uv;
out vec4 color;
uniform sampler2D tex;

void main()
{
    color = texture(tex, uv);
}
"""

V_PROGRAM = b"""module main

import os

fn main() {
	args := os.args[1..]
	for arg in args {
		println(arg)
	}
}
"""
VERILOG_MODULE = b"""`timescale 1ns / 1ps
module counter #(parameter WIDTH = 8) (
    input  wire clk,
    input  wire rst,
    output reg [WIDTH-1:0] count
);
  always @(posedge clk) begin
    if (rst) count <= 0;
    else     count <= count + 1;
  end
endmodule
"""
VERILOG_TERSE = b"module top(input a, output b);\n  assign b = ~a;\nendmodule\n"
ROCQ_PROOF = b"""Theorem plus_0_r : forall n : nat, n + 0 = n.
Proof.
  intros n. induction n as [| n' IHn'].
  - reflexivity.
  - simpl. rewrite IHn'. reflexivity.
Qed.
"""
ROCQ_IMPORT = b"Require Import Arith.\nRequire Import List.\n\nDefinition double (n : nat) := n + n.\n"

PLPGSQL = b"""CREATE OR REPLACE FUNCTION increment(i integer) RETURNS integer AS $$
BEGIN
    RETURN i + 1;
END;
$$ LANGUAGE plpgsql;
"""
PLSQL_PACKAGE = b"""CREATE OR REPLACE PACKAGE emp_mgmt AUTHID DEFINER AS
  PROCEDURE remove_emp (employee_id NUMBER);
END emp_mgmt;
/
"""
PLSQL_PROCEDURE = b"""create or replace procedure greet(p_name in varchar2) is
begin
  dbms_output.put_line('Hello ' || p_name);
end;
/
"""
PLAIN_SQL = b"""CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name VARCHAR(40) NOT NULL
);
SELECT name FROM users WHERE id = 1;
"""
TSQL = b"""DECLARE @count INT;
SELECT @count = COUNT(*) FROM [dbo].[Orders];
GO
"""

CASES = [
    # .pp: Pascal vs Puppet
    ("init.pp", PUPPET_CLASS, "Puppet"),
    ("site.pp", PUPPET_NODE, "Puppet"),
    ("vhost.pp", PUPPET_DEFINE, "Puppet"),
    ("strutilsex.pp", PASCAL_UNIT, "Pascal"),
    ("hello.pp", PASCAL_PROGRAM_HEAD, "Pascal"),
    ("DriveInfo.cs.pp", b"using System;\nnamespace $rootnamespace$ { }\n", "C#"),
    # .cl: OpenCL vs Common Lisp vs Cool (outside the table)
    ("vector_add.cl", OPENCL_KERNEL, "OpenCL"),
    ("square.cl", COMMON_LISP, "Common Lisp"),
    ("main.cl", COOL, None),
    # .fs: F# vs Forth vs GLSL
    ("Geometry.fs", FSHARP, "F#"),
    ("Geometry.fs", b"\xef\xbb\xbfnamespace Shapes\n\n    open System\n", "F#"),  # a BOM hides nothing
    ("cube.fs", FORTH, "Forth"),
    ("shader.fs", GLSL_FRAGMENT, "GLSL"),
    # .v: V vs Verilog vs Rocq
    ("main.v", V_PROGRAM, "V"),
    ("counter.v", VERILOG_MODULE, "Verilog"),
    ("top.v", VERILOG_TERSE, "Verilog"),
    ("protected.v", b"`pragma protect begin_protected\n`pragma protect version = 1\n", "Verilog"),
    ("Plus.v", ROCQ_PROOF, "Rocq Prover"),
    ("Double.v", ROCQ_IMPORT, "Rocq Prover"),
    # .sql and Oracle's .ddl/.prc: PL/pgSQL, PL/SQL, SQL (T-SQL stays SQL)
    ("increment.sql", PLPGSQL, "PLpgSQL"),
    ("emp_mgmt.sql", PLSQL_PACKAGE, "PLSQL"),
    ("greet.sql", PLSQL_PROCEDURE, "PLSQL"),
    ("greet.prc", PLSQL_PROCEDURE, "PLSQL"),
    ("schema.sql", PLAIN_SQL, "SQL"),
    ("schema.ddl", PLAIN_SQL, "SQL"),
    ("orders.sql", TSQL, "SQL"),
    ("emp.pks", PLSQL_PACKAGE, "PLSQL"),
    # .h: Objective-C, C++, C
    ("View.h", b"#import <UIKit/UIKit.h>\n\n@interface View : UIView\n@end\n", "Objective-C"),
    ("vec.h", b"#pragma once\n#include <vector>\nstd::vector<int> ids();\n", "C++"),
    ("nodiscard.h", b"constexpr int kAnswer = 42;\n", "C++"),
    ("list.h", b"#ifndef LIST_H\n#define LIST_H\nstruct node { int v; struct node *next; };\n#endif\n", "C"),
    # .m: Objective-C, MATLAB, Wolfram Language
    ("View.m", b"#import \"View.h\"\n\n@implementation View\n@end\n", "Objective-C"),
    ("area.m", b"% area of a circle\nfunction a = area(r)\n  a = pi * r^2;\nend\n", "MATLAB"),
    ("Init.m", b"(* Mathematica Init File *)\n\nGet[\"Foo`Foo`\"]\n", "Wolfram Language"),
    # .pl/.pm/.t: Perl, Prolog, Raku, Terra
    ("app.pl", b"use strict;\nuse warnings;\nmy $x = shift;\nprint \"$x\\n\";\n", "Perl"),
    ("family.pl", b"parent(tom, bob).\ngrandparent(X, Z) :- parent(X, Y), parent(Y, Z).\n", "Prolog"),
    ("Point.pm", b"package Point;\nuse strict;\nsub new { my $class = shift; bless {}, $class }\n1;\n", "Perl"),
    ("Point.pm", b"use v6;\nunit class Point;\nhas $.x;\nhas $.y;\n", "Raku"),
    ("basic.t", b"use Test::More tests => 1;\nuse strict;\nok(1);\n", "Perl"),
    ("basic.t", b"use v6;\nuse Test;\nplan 1;\nok 1;\n", "Raku"),
    ("array.t", b"local C = terralib.includec(\"stdio.h\")\nterra main()\n  C.printf(\"hi\\n\")\nend\n", "Terra"),
    # .inc: PHP, Pascal, Assembly, HTML, C++ by default; POV-Ray is not one of ours
    ("config.inc", b"<?php\n$db_host = 'localhost';\n", "PHP"),
    ("options.inc", b"// build options\n{$define UseLZW}\n{$ifdef Debug} {$define Trace} {$endif}\n", "Pascal"),
    ("print.inc", b"print_char:\n    mov ah, 0x0e\n    int 0x10\n    ret\n", "Assembly"),
    ("footer.inc", b"</div>\n<p>Copyright 2024</p>\n</body>\n</html>\n", "HTML"),
    ("colors.inc", b"#declare Red = rgb <1, 0, 0>;\n#declare Green = rgb <0, 1, 0>;\n", None),
    ("classes.inc", b"// generated list of classes\n", "C++"),
    # XML against the languages that share its extensions
    ("strings_de.ts", b"<?xml version=\"1.0\"?>\n<!DOCTYPE TS>\n<TS version=\"2.1\" language=\"de\">\n</TS>\n", "XML"),
    ("app.ts", b"export const answer: number = 42;\n", "TypeScript"),
    ("tiles.tsx", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tileset name=\"beach\"/>\n", "XML"),
    ("App.tsx", b"import React from 'react';\nexport const App = () => <div/>;\n", "TSX"),
    ("ideas.mm", b"<map version=\"0.9.0\">\n<node TEXT=\"root\"/>\n</map>\n", "XML"),
    ("Bridge.mm", b"#import <Foundation/Foundation.h>\n#include <string>\n", "Objective-C++"),
    ("Web.rs", b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<WebElementEntity/>\n", "XML"),
    ("lib.rs", b"use std::io;\n\nfn main() {}\n", "Rust"),
    # .f/.for: Forth vs Fortran
    ("stars.f", b": star  42 emit ;\n: stars  0 do star loop ;\n10 stars\n", "Forth"),
    ("hello.f", b"      PROGRAM HELLO\n      PRINT *, 'Hello'\n      END\n", "Fortran"),
    ("hello.for", b"C     A COMMENT\n      PROGRAM HELLO\n      END\n", "Fortran"),
    # .frag/.gs: GLSL vs JavaScript
    ("blur.frag", b"precision mediump float;\nvarying vec2 vUv;\nvoid main() { gl_FragColor = vec4(1.0); }\n", "GLSL"),
    ("outro.js.frag", b"  return api;\n})(jQuery);\n", "JavaScript"),
    ("extrude.gs", b"#version 330 core\nlayout(triangles) in;\n", "GLSL"),
    ("Code.gs", b"function onOpen() {\n  SpreadsheetApp.getUi();\n}\n", "JavaScript"),
    # .cake: C# (Cake build script) vs CoffeeScript
    ("build.cake", b"var target = Argument(\"target\", \"Default\");\nTask(\"Default\");\nRunTarget(target);\n", "C#"),
    ("build.cake", b"fs = require 'fs'\n\ntask 'build', 'Build', ->\n  console.log 'ok'\n", "CoffeeScript"),
    # .spec: RPM (not ours), RSpec, PyInstaller
    ("hello.spec", b"Name: hello\nVersion: 1.0\nRelease: 1\nSummary: Hello\n\n%description\nHi.\n", None),
    ("any.spec", b"require 'spec_helper'\n\ndescribe Foo do\n  it { should be_valid }\nend\n", "Ruby"),
    ("app.spec", b"# -*- mode: python -*-\na = Analysis(['app.py'])\npyz = PYZ(a.pure)\n", "Python"),
    # .re: re2c C++ vs Reason (not ours)
    ("lexer.re", b"#include <stdio.h>\n#define YYCTYPE char\nint lex(const char *YYCURSOR) {}\n", "C++"),
    ("App.re", b"open Belt;\nlet greeting = \"hi\";\n", None),
    # .cls: Apex, TeX, VB6
    ("Account.cls", b"public with sharing class AccountService {\n  public void run() {}\n}\n", "Apex"),
    ("thesis.cls", b"\\NeedsTeXFormat{LaTeX2e}\n\\ProvidesClass{thesis}\n", "TeX"),
    ("Widget.cls", b"VERSION 1.0 CLASS\nBEGIN\n  MultiUse = -1  'True\n  Persistable = 0  'NotPersistable\nEND\n",
     "Visual Basic 6.0"),
    # .pro: Prolog, INI (KiCad), QMake (not ours)
    ("rules.pro", b"likes(mary, wine).\nhappy(X) :- likes(X, wine).\n", "Prolog"),
    ("board.pro", b"update=22/05/2015 07:44:53\nversion=1\nlast_client=kicad\n", "INI"),
    ("app.pro", b"TEMPLATE = app\nHEADERS += main.h\nSOURCES += main.cpp\n", None),
    # .nb/.ncl: Wolfram and XML against Text
    ("calc.nb", b"(* Content-type: application/vnd.wolfram.mathematica *)\nNotebook[{}]\n", "Wolfram Language"),
    ("tutor.nb", b"Velkommen til innforingen i Vim\n", "Text"),
    ("layout.ncl", b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<ncl id=\"x\"/>\n", "XML"),
    # extensions and file names from languages.yml that the table lacked
    ("gblib.cppm", b"export module gblib;\nimport std;\n", "C++"),
    ("svg.cljx", b"(ns c2.svg)\n", "Clojure"),
    ("main.vs", b"attribute vec2 pos;\nvoid main() { gl_Position = vec4(pos, 0.0, 1.0); }\n", "GLSL"),
    ("builder.gradle", b"apply plugin: 'java'\n", "Gradle"),
    ("util.vh", b"function integer log2;\n  input integer x;\nendfunction\n", "SystemVerilog"),
    ("rules.bzl", b"def _impl(ctx):\n    pass\n", "Starlark"),
    ("BUILD.bazel", b"cc_library(name = 'x')\n", "Starlark"),
    ("WORKSPACE", b"workspace(name = 'x')\n", "Starlark"),
    ("zshrc", b"export PATH=\"$HOME/bin:$PATH\"\n", "Shell"),
    ("Pipfile.lock", b"{\n  \"_meta\": {}\n}\n", "JSON"),
    ("Cargo.toml.orig", b"[package]\nname = \"x\"\n", "TOML"),
    ("Makefile.boot", b"PROG= boot\n.include <bsd.prog.mk>\n", "Makefile"),
    ("mcmod.info", b"[\n{\n  \"modid\": \"examplemod\"\n}\n]\n", "JSON"),
    ("common.h.in", b"#define VERSION \"@VERSION@\"\n", "C"),
    ("any.pyde", b"def setup():\n    size(200, 200)\n", "Python"),
    # file names two languages claim: settled by content
    (".eslintrc", b"{\n  // comments allowed\n  \"root\": true\n}\n", "JSON with Comments"),
    (".eslintrc", b"root: true\nextends: eslint:recommended\n", "YAML"),
    # shebang before extension, as Linguist reads it
    ("uv-tool", b"#!/usr/bin/env -S uv run --script\nprint('hi')\n", "Python"),
    ("hello", b"#!/bin/sh\nexec scala \"$0\" \"$@\"\n!#\nobject Hello extends App\n", "Scala"),
    ("ruby3", b"#!/usr/bin/env -vS ruby -w -Ilib\nputs 'Ruby'\n", "Ruby"),
    ("backstage.fcgi", b"#!/usr/bin/env python\nimport sys\n", "Python"),
    ("prefix.fcgi", b"<?php\necho 1;\n?>\n", "PHP"),
    ("serve.ts", b"#!/usr/bin/env node\nconst x: number = 1;\n", "TypeScript"),
    ("check.t", b"#!/usr/bin/env perl6\nuse Test;\nok 1;\n", "Raku"),
    # modelines where the name leaves the choice open
    ("Types.h", b"//===-- Types.h - basic types -*- C++ -*-===//\n#ifndef TYPES_H\n#define TYPES_H\n#endif\n", "C++"),
    ("Nested.pm", b"module A {\n  our sub f { 1 }\n}\n# vim: ft=perl6\n", "Raku"),
    # an XML declaration where the name says nothing; a man page by its name
    ("Demo.sfproj", b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Project ToolsVersion=\"4.0\"/>\n", "XML"),
    ("printf.3in", b".th PRINTF III 9/17/73\n.sh NAME\n", "Roff"),
    ("ls.1.in", b".TH LS 1\n.SH NAME\n", "Roff"),
]


@pytest.mark.parametrize("name,head,expected", CASES, ids=[f"{c[0]}->{c[2]}" for c in CASES])
def test_shared_extension_settled_by_content(name, head, expected):
    assert language_of(name, head) == expected


def test_rules_name_only_table_languages_or_none():
    for ext, rules in codelang._HEURISTICS.items():
        for language, _, _ in rules:
            assert language is None or language in LANGUAGES, (ext, language)
    assert all(ext in codelang.BY_EXTENSION for ext in codelang._HEURISTICS)


def test_modeline_is_not_read_where_the_extension_alone_decides():
    # the documented departure from Linguist: a unique extension outranks a modeline (it saves the look)
    assert language_of("x.c", b"/* -*- C++ -*- */\nint x;\n") == "C"
    assert language_of("x.h", b"/* -*- C++ -*- */\nint x;\n") == "C++"
    assert language_of("tool", b"# -*- mode: python; coding: utf-8 -*-\nx = 1\n") == "Python"
    assert language_of("tool", b"# -*- coding: utf-8 -*-\nx = 1\n") is None


def _linguist_samples(shared_data):
    path = shared_data / "code" / "linguist_samples_dev.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"Linguist samples not found at {path}")
    samples = []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            content = base64.b64decode(d["content"]) if d["encoding"] == "base64" else d["content"].encode("utf-8")
            samples.append((d["language"], d["filename"], content))
    return samples


# Measured 0.999 (949 of 950 samples of the 114 languages the table covers; the miss is a `.releaserc` written
# as YAML flow style, which reads as JSON); the margin leaves room for data or table updates, not regressions.
MIN_DEV_ACCURACY = 0.99


def test_accuracy_on_linguist_dev_samples(shared_data):
    samples = [s for s in _linguist_samples(shared_data) if s[0] in LANGUAGES]
    assert len(samples) >= 900
    wrong = [(lang, name, language_of(name, content[:codelang.HEAD_BYTES])) for lang, name, content in samples
             if language_of(name, content[:codelang.HEAD_BYTES]) != lang]
    accuracy = 1 - len(wrong) / len(samples)
    assert accuracy >= MIN_DEV_ACCURACY, wrong[:20]


def test_shared_extensions_keep_other_candidates_on_linguist_samples(shared_data):
    """A content rule for one language must not take the samples of the others that share its extension:
    every sample of a table language whose extension has rules is labelled as itself."""
    samples = [s for s in _linguist_samples(shared_data) if s[0] in LANGUAGES]
    stolen = []
    for lang, name, content in samples:
        ext = codelang._extension(name.lower())
        if ext in codelang._HEURISTICS and name not in codelang.BY_FILENAME:
            got = language_of(name, content[:codelang.HEAD_BYTES])
            if got != lang:
                stolen.append((name, lang, got))
    assert not stolen


def test_content_rules_do_not_backtrack_over_hostile_heads():
    """Linguist's rules are Ruby regexes; searched as written, `^\\s*x` ran over every blank line after every
    line start (a .h file of 8 KB of newlines took 1.2 s, and the rules of a shared extension add up), and
    overlapping runs (`[\\w\\s]+\\w+\\.`) backtracked over a whole line. Every rule, on heads built to make a
    backtracking search quadratic, finishes well inside the bound (~0.05 s at worst here)."""
    import signal
    import time

    heads = [bytes([b]) * codelang.HEAD_BYTES for b in b" \n\t#(*-:<a0{/\\;@%'\".,$`!=|[]"]
    heads += [b" \n" * 4096, b"\t\n" * 4096, b"a\n" * 4096, b"a " * 4096, b"a." * 4096, b"a:" * 4096,
              b"a" * 8000 + b".", b"#include " * 900, b"mov " * 2048, b"(*" * 4096, b"\\\n" * 4096]

    def too_slow(*_):
        raise TimeoutError

    previous = signal.signal(signal.SIGALRM, too_slow)
    slow = []
    try:
        for ext in sorted(codelang._HEURISTICS):
            for head in heads:
                signal.setitimer(signal.ITIMER_REAL, 2.0)
                start = time.perf_counter()
                try:
                    language_of("f" + ext, head)
                except TimeoutError:
                    slow.append((ext, head[:8]))
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if time.perf_counter() - start > 0.5:
                    slow.append((ext, head[:8]))
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not slow, slow
