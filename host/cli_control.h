/* agentbox pause|resume|snapshot|stop: clients of a VM's control socket. */
#ifndef AGENTBOX_CLI_CONTROL_H
#define AGENTBOX_CLI_CONTROL_H

#include <stdbool.h>

extern const char cli_control_usage[];

bool cli_control_is_command(const char *cmd);

/* argv[0] is the command; returns the exit status. */
int cli_control_main(int argc, char *argv[]);

#endif /* AGENTBOX_CLI_CONTROL_H */
