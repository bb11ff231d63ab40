#!/usr/bin/perl
# make-man-page.pl: the man page of one procmod tool, made by help2man from the tool's
# own --help and --version, the one source of the page (docs/DEVELOPMENT.md, "Man pages").
#
#   perl man/make-man-page.pl --help2man /usr/bin/help2man --source "procmod 0.1.0" \
#       --output build/man/procmod-server.1 build/server/procmod-server
#
# The help texts are CLI11's: "TOOL - what it does", a description, "Usage:", the
# "Options:", "Positionals:" and "Subcommands:" lists, then a footer of sections under
# ALL-CAPS headings (EXIT STATUS, EXAMPLES, SEE ALSO, ...). help2man reads the part up
# to the lists well. Before it sees the text, this script
#   - takes the first line off and passes it as --name, the page's NAME line;
#   - turns each footer heading into help2man's "*HEADING*", a section (.SH) of its
#     own; a parenthesis after the heading, "EXIT STATUS (the same for every procmod
#     tool)", becomes the section's first paragraph;
#   - moves the footer's plain lines to the left margin, so that help2man fills them
#     as paragraphs; the rows of two-column lists ("  0  clean: ...") and their
#     continuation lines stay, and help2man makes them tagged paragraphs (.TP);
#   - writes "-h, --help" for CLI11's "-h,--help", so that help2man sets both in bold.
# It converts to roff itself, into an include file for help2man, what help2man would
# get wrong:
#   - EXAMPLES: help2man fills lines, and would run examples together or break a
#     command in two; here each command is a line of its own, in bold;
#   - for a tool with subcommands (the "Subcommands:" list), a SYNOPSIS with a line per
#     command and a COMMANDS section made from each `TOOL COMMAND --help`, sample
#     output (the first block under OUTPUT, unless it ends with a full stop) kept line
#     for line. The footer's own COMMANDS summary, if any, gives way to it.
# The page is set left-aligned and without hyphenation, so that option names and URLs
# are never split.
#
# help2man runs its "program" with --help and --version; here the program is cat and
# the two "options" are the files with the prepared texts, written beside the page.
use strict;
use warnings;
use File::Basename qw(basename dirname);
use Getopt::Long;

my ($help2man, $source, $output) = ('help2man', '', '');
GetOptions('help2man=s' => \$help2man, 'source=s' => \$source, 'output=s' => \$output)
  and @ARGV == 1 and $output =~ /\.1$/
  or die "usage: make-man-page.pl [--help2man PATH] [--source TEXT] --output PAGE.1 TOOL\n";
my $tool = $ARGV[0];
my $page = basename($output, '.1');

# A footer heading: "SEE ALSO", "EXIT STATUS (the same for every procmod tool)".
my $HEADING = qr/^([A-Z][A-Z0-9 \/-]*[A-Z0-9])(?: (\(.*\)))?$/;
# A row of a two-column list: "  TAG  TEXT", two spaces or more between.
my $ROW = qr/^( +)(\S.*?)(  +)(\S.*)$/;

# --- reading help texts ------------------------------------------------------------------

# The tool's output with these arguments; dies unless the tool exits 0.
sub run_tool {
  my @command = ($tool, @_);
  open(my $pipe, '-|', @command) or die "make-man-page: cannot run $tool: $!\n";
  my $text = do { local $/; <$pipe> } // '';
  close $pipe or die "make-man-page: '@command' failed (exit status " . ($? >> 8) . ")\n";
  return $text;
}

sub indent_of { $_[0] =~ /^( *)/; length $1 }

# Splits a help text into its head (description, Usage, the lists) and its footer
# sections, each [title, parenthesis or '', [lines]].
sub split_footer {
  my @lines = @_;
  my (@head, @sections);
  for my $line (@lines) {
    if ($line =~ $HEADING) {
      push @sections, [$1, $2 // '', []];
    } elsif (@sections) {
      push @{$sections[-1][2]}, $line;
    } else {
      push @head, $line;
    }
  }
  for my $body (map { $_->[2] } @sections) {
    shift @$body while @$body && $body->[0] eq '';
    pop @$body while @$body && $body->[-1] eq '';
  }
  pop @head while @head && $head[-1] eq '';
  return (\@head, \@sections);
}

# --- writing roff --------------------------------------------------------------------------

# Text as roff, as help2man writes it: a backslash is \e and every hyphen \-, so that
# none becomes a typographic hyphen.
sub roff_escape {
  my ($text) = @_;
  $text =~ s/\\/\\e/g;
  $text =~ s/-/\\-/g;
  return $text;
}

# A line that roff, or help2man reading the include file, would take for something
# else: a request (. '), a [section] or a /pattern/.
sub roff_line {
  my ($line) = @_;
  $line =~ s/^([.'\[\/])/\\&$1/;
  return "$line\n";
}

# Escaped, with options in bold as help2man sets them: --json, -c, --connect-timeout.
sub prose {
  my $text = roff_escape($_[0]);
  $text =~ s/(^|[ (`])((?:\\-)+\w(?:\w|\\-)*)/$1\\fB$2\\fR/g;
  return $text;
}

# The tag of an option or positional: "-c,--count COUNT=4", "URL", "NAME REQUIRED".
sub list_tag {
  my ($tag) = @_;
  my @out;
  for my $word (grep { $_ ne '' } split /[, ]/, $tag) {
    my $escaped = roff_escape($word);
    push @out, $word =~ /^-/ ? "\\fB$escaped\\fR" : @out ? $escaped : "\\fI$escaped\\fR";
  }
  my $text = join ' ', @out;
  $text =~ s/(\\fR) (\\fB)/$1, $2/g;   # "-c, --count"
  return $text;
}

# "procmod ping [OPTIONS] [URL]": the command in bold, its arguments in italics.
sub synopsis_line {
  my ($usage) = @_;
  my ($program, $command, $arguments) = $usage =~ /^(\S+) (\S+)\s*(.*)$/;
  $arguments = roff_escape($arguments);
  $arguments =~ s/([A-Z][A-Z0-9_]*)/\\fI$1\\fR/g;
  return roff_line("\\fB" . roff_escape("$program $command") . "\\fR $arguments");
}

# The body of a footer section as roff. Blocks are separated by blank lines. A row
# ("  TAG  TEXT") and the lines below it indented further are a tagged paragraph;
# other lines are filled into paragraphs. In EXAMPLES each command is a line of its
# own; in OUTPUT the first block is sample output unless it ends with a full stop.
sub section_roff {
  my ($title, @lines) = @_;
  my $examples = $title eq 'EXAMPLES';
  my (@blocks, $roff);
  push @blocks, [] unless @lines && $lines[0] eq '';
  for my $line (@lines) {
    if ($line eq '') { push @blocks, [] } else { push @{$blocks[-1]}, $line }
  }
  @blocks = grep { @$_ } @blocks;
  for my $index (0 .. $#blocks) {
    my @block = @{$blocks[$index]};
    if ($title eq 'OUTPUT' && $index == 0 && $block[-1] !~ /\.$/) {
      my ($cut) = sort { $a <=> $b } map { indent_of($_) } @block;
      $roff .= ".PP\n.RS 4\n.nf\n";
      $roff .= roff_line(roff_escape(substr($_, $cut))) for @block;
      $roff .= ".fi\n.RE\n";
      next;
    }
    my $i = 0;
    while ($i < @block) {
      my $line = $block[$i++];
      my $indent = indent_of($line);
      if ($line =~ $ROW || ($i < @block && indent_of($block[$i]) >= $indent + 4)) {
        my ($tag, @text) = $line =~ $ROW ? ($2, $4) : ($line =~ s/^ +//r);
        push @text, $block[$i++] =~ s/^ +//r
          while $i < @block && indent_of($block[$i]) > $indent;
        if ($examples) {
          $roff .= ".TP\n" . roff_line("\\fB" . roff_escape($tag) . "\\fR");
          $roff .= roff_line(roff_escape($_)) for @text;
        } else {
          $roff .= ".TP\n" . roff_line(prose($tag));
          $roff .= roff_line(prose($_)) for @text;
        }
      } elsif ($examples) {
        $roff .= ".PP\n.nf\n" . roff_line("\\fB" . roff_escape($line =~ s/^ +//r) . "\\fR")
          . ".fi\n";
      } else {
        my @text = ($line);
        push @text, $block[$i++]
          while $i < @block && indent_of($block[$i]) == $indent && $block[$i] !~ $ROW;
        $roff .= ".PP\n";
        $roff .= roff_line(prose(s/^ +//r)) for @text;
      }
    }
  }
  return $roff // '';
}

# A command's --help as a subsection of COMMANDS: its usage, what it does, its
# positionals and options, then its footer sections under labels (Output, Examples).
sub command_roff {
  my ($command) = @_;
  my @lines = split /\n/, run_tool($command, '--help');
  my @description;
  push @description, shift @lines while @lines && $lines[0] !~ /^Usage: /;
  @lines or die "make-man-page: '$tool $command --help' has no 'Usage:' line\n";
  (my $usage = shift @lines) =~ s/^Usage: //;
  my ($head, $sections) = split_footer(@lines);

  my $summary = ucfirst join ' ', @description;
  $summary .= '.' unless $summary =~ /[.!?:]$/;
  my $roff = '.SS "' . roff_escape($usage) . "\"\n" . roff_line(prose($summary));
  my (@rest, $list);
  for my $line (@$head) {
    if ($line =~ /^(\w+):$/) {
      $list = $1;
    } elsif ($line eq '') {
      $list = undef;
      push @rest, $line;
    } elsif (defined $list && $line =~ $ROW) {
      my ($tag, $text) = ($2, $4);
      next if $tag eq '-h,--help';   # in every command; OPTIONS has it once
      $roff .= ".TP\n" . roff_line(list_tag($tag)) . roff_line(prose($text));
    } else {
      push @rest, $line;   # text after the lists, under no heading
    }
  }
  $roff .= section_roff('', @rest);
  for my $section (@$sections) {
    my ($title, $note, $body) = @$section;
    $roff .= ".PP\n" . roff_line("\\fB" . roff_escape(ucfirst lc $title) . "\\fR"
                                 . ($note ne '' ? ' ' . prose($note) : ''));
    $roff .= section_roff($title, @$body);
  }
  return ($usage, $roff);
}

# --- the page ------------------------------------------------------------------------------

my @lines = split /\n/, run_tool('--help');
my $version = run_tool('--version');
# The NAME line. Without it the page still builds, with help2man's placeholder NAME,
# which the man-page test refuses.
my $name;
if (@lines && $lines[0] =~ /^\Q$page\E - (\S.*)$/) {
  $name = $1;
  shift @lines;
  shift @lines while @lines && $lines[0] eq '';
} else {
  warn "make-man-page: '$tool --help' does not start with '$page - what it does'\n";
}
my ($head, $sections) = split_footer(@lines);

# The text help2man reads: the head without the Subcommands list, "-h, --help".
my (@text, @commands, $list);
for my $line (@$head) {
  if ($line =~ /^(\w+):$/) {
    $list = $1;
    push @text, $line unless $list eq 'Subcommands';
    next;
  }
  $list = undef if $line eq '';
  if (defined $list && $list eq 'Subcommands') {
    push @commands, $1 if $line =~ /^\s+(\S+)/;
    next;
  }
  if (defined $list && $line =~ $ROW) {
    my ($indent, $tag, $gap, $text) = ($1, $2, $3, $4);
    (my $spaced = $tag) =~ s/,(?=-)/, /g;
    my $longer = length($spaced) - length($tag);
    $gap = ' ' x (length($gap) - $longer) if length($gap) - $longer >= 2;
    $line = "$indent$spaced$gap$text";
  }
  push @text, $line;
}

# The include file: SYNOPSIS and COMMANDS for a tool with subcommands, then EXAMPLES.
my $include = ".\\\" Made by make-man-page.pl from '$page --help' for help2man --include.\n";
if (@commands) {
  my ($synopsis, $commands) = ('', '');
  for my $command (@commands) {
    my ($usage, $roff) = command_roff($command);
    $synopsis .= ($synopsis ? ".br\n" : '') . synopsis_line($usage);
    $commands .= $roff;
  }
  $include .= "[SYNOPSIS]\n$synopsis\n[COMMANDS]\n$commands\n";
}

# The footer: a section each, EXAMPLES into the include file.
for my $section (@$sections) {
  my ($title, $note, $body) = @$section;
  next if $title eq 'COMMANDS' && @commands;
  if ($title eq 'EXAMPLES') {
    $include .= "[EXAMPLES]\n" . section_roff($title, @$body) . "\n";
    next;
  }
  push @text, '', "*$title*", '';
  push @text, $note, '' if $note ne '';
  my $row = -1;   # the indent of the row being continued, -1 if none
  for my $i (0 .. $#$body) {
    my $line = $body->[$i];
    my $next = $i < $#$body ? $body->[$i + 1] : '';
    my $indent = indent_of($line);
    if ($line eq '' || ($row >= 0 && $indent > $row)) {   # a row's next lines stay
      $row = -1 if $line eq '';
      push @text, $line;
    } elsif ($line =~ $ROW || ($indent > 0 && $next =~ /\S/ && indent_of($next) >= $indent + 4)) {
      $row = $indent;   # a row, or a tag with its text on the next lines
      push @text, $line;
    } else {
      $row = -1;
      push @text, $line =~ s/^ +//r;   # plain text: a paragraph
    }
  }
}

# --- help2man ------------------------------------------------------------------------------

my $dir = dirname($output);
chdir $dir or die "make-man-page: cannot enter $dir: $!\n";
sub write_file {
  my ($file, $text) = @_;
  open(my $out, '>', $file) or die "make-man-page: cannot write $dir/$file: $!\n";
  print $out $text;
  close $out or die "make-man-page: cannot write $dir/$file: $!\n";
}
write_file("$page.h2m", $include);
write_file("$page.help", join("\n", @text) . "\n");
write_file("$page.version", $version);

my @help2man = ($help2man, '--no-info', '--section=1', "--help-option=$page.help",
                "--version-option=$page.version", "--output=$page.1.tmp");
push @help2man, "--include=$page.h2m" if $include =~ /^\[/m;   # help2man refuses an empty one
push @help2man, '--name=' . roff_escape($name) if defined $name;
push @help2man, "--source=$source" if $source ne '';
system(@help2man, 'cat') == 0 or die "make-man-page: help2man failed for $page\n";

# Left-aligned and unhyphenated from the start, NAME included.
open(my $in, '<', "$page.1.tmp") or die "make-man-page: cannot read $dir/$page.1.tmp: $!\n";
my $roff = do { local $/; <$in> };
close $in;
$roff =~ s/^(\.TH .*\n)/$1.ad l\n.nh\n/m or die "make-man-page: no .TH line from help2man\n";
write_file("$page.1.tmp", $roff);
rename("$page.1.tmp", "$page.1") or die "make-man-page: cannot write $dir/$page.1: $!\n";
