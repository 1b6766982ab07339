/*
 * The interactive shell: drink with no command reads commands from stdin,
 * one per line, and runs each on the same connection (one login for the
 * whole session).  Words split like a small sh: blanks separate them,
 * quotes keep a NOTE in one piece.  A failing command is reported and the
 * shell goes on.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define CLI_SHELL_LINE_MAX 4096
#define CLI_SHELL_WORDS_MAX 128
#define CLI_SHELL_PROMPT "drink> "

enum cli_shell_builtin {
	CLI_SHELL_HELP,
	CLI_SHELL_QUIT,
};

static const struct {
	const char *name;
	enum cli_shell_builtin what;
} cli_shell_builtins[] = {
	{ "help", CLI_SHELL_HELP },
	{ "?", CLI_SHELL_HELP },
	{ "quit", CLI_SHELL_QUIT },
	{ "exit", CLI_SHELL_QUIT },
};
#define CLI_SHELL_NBUILTINS \
	(sizeof(cli_shell_builtins) / sizeof(cli_shell_builtins[0]))

/*
 * Split line into words stored in out (at least as long as line).
 * Double quotes allow \" and \\ inside; single quotes take everything
 * literally; a backslash outside quotes escapes the next character.
 * Returns the number of words, or -1 with the reason printed.
 */
static int
cli_shell_split(const char *line, char *out, char **words, int max)
{
	const char *p = line;
	char *o = out, quote;
	int n = 0;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') {
			p++;
		}
		if (*p == '\0' || (*p == '#' && n == 0)) {
			return n;
		}
		if (n == max) {
			cli_error("more than %d words", max);
			return -1;
		}
		words[n++] = o;
		quote = 0;
		for (; *p != '\0'; p++) {
			if (quote == 0 && (*p == ' ' || *p == '\t' ||
			    *p == '\n' || *p == '\r')) {
				break;
			}
			if (quote == 0 && (*p == '"' || *p == '\'')) {
				quote = *p;
			} else if (quote != 0 && *p == quote) {
				quote = 0;
			} else if (*p == '\\' && quote != '\'' &&
			    p[1] != '\0' && (quote == 0 || p[1] == '"' ||
			    p[1] == '\\')) {
				*o++ = *++p;
			} else {
				*o++ = *p;
			}
		}
		if (quote != 0) {
			cli_error("unterminated %c quote", quote);
			return -1;
		}
		*o++ = '\0';
	}
}

int
cli_shell_help(int argc, char **argv)
{
	if (argc > 1) {
		return cli_cmd_usage_one(stdout, argv[1]) == 0 ? CLI_EXIT_OK :
		    CLI_EXIT_USAGE;
	}
	printf("Type a command and its arguments; quote a NOTE with "
	    "spaces.\n");
	cli_cmd_usage(stdout);
	printf("\nShell:\n  %-36s %s\n  %-36s %s\n", "help [COMMAND]",
	    "this list, or one command's usage", "quit",
	    "leave (end of input does too)");
	return CLI_EXIT_OK;
}

/* Read a line; a longer one than the buffer is refused whole. */
static int
cli_shell_read(char *line, size_t len, int *toolong)
{
	size_t n;
	int c;

	*toolong = 0;
	if (fgets(line, (int)len, stdin) == NULL) {
		return -1;
	}
	n = strlen(line);
	if (n > 0 && line[n - 1] != '\n' && !feof(stdin)) {
		*toolong = 1;
		while ((c = getchar()) != EOF && c != '\n') {
			continue;
		}
	}
	return 0;
}

int
cli_shell_run(struct cli_session *s)
{
	char line[CLI_SHELL_LINE_MAX], store[CLI_SHELL_LINE_MAX];
	char *words[CLI_SHELL_WORDS_MAX];
	int interactive = isatty(STDIN_FILENO), toolong, n, st;
	int last = CLI_EXIT_OK;
	size_t i;

	/* Connect now, so a wrong host or certificate shows up at once. */
	if ((st = cli_session_open(s)) != CLI_EXIT_OK) {
		return st;
	}
	if (interactive) {
		printf("Type help for the commands, quit to leave.\n");
	}
	for (;;) {
		if (interactive) {
			printf("%s", CLI_SHELL_PROMPT);
		}
		fflush(stdout);
		if (cli_shell_read(line, sizeof(line), &toolong) != 0) {
			if (interactive) {
				printf("\n");
			}
			break;
		}
		if (toolong) {
			cli_error("line longer than %d bytes ignored",
			    CLI_SHELL_LINE_MAX - 2);
			last = CLI_EXIT_USAGE;
			continue;
		}
		n = cli_shell_split(line, store, words, CLI_SHELL_WORDS_MAX);
		if (n <= 0) {
			last = n < 0 ? CLI_EXIT_USAGE : last;
			continue;
		}
		for (i = 0; i < CLI_SHELL_NBUILTINS; i++) {
			if (strcmp(words[0], cli_shell_builtins[i].name) == 0) {
				break;
			}
		}
		if (i == CLI_SHELL_NBUILTINS) {
			last = cli_cmd_execute(s, n, words);
		} else if (cli_shell_builtins[i].what == CLI_SHELL_HELP) {
			last = cli_shell_help(n, words);
		} else {
			break;
		}
	}
	fflush(stdout);
	return last;
}
