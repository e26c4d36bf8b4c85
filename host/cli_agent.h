/* The guest-agent subcommands of agentbox: exec, cp, docker-socket, ready,
 * shutdown and fixup (cli_agent.c). */
#ifndef AGENTBOX_CLI_AGENT_H
#define AGENTBOX_CLI_AGENT_H

#include <stdbool.h>

/* Exit status for a failure of agentbox itself, as docker uses it. */
#define CLI_EXIT_FAILED	125

bool cli_agent_is_command(const char *name);
/* ARGV[0] is the subcommand; returns the exit status. */
int cli_agent_main(int argc, char *argv[]);
extern const char cli_agent_usage[];

#endif
