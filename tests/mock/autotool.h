/* Scripted tool use, for clients that cannot send the mock object (the AI SDK, @openai/agents
 * with default settings): a request whose model starts with "autotool" and that offers function
 * tools gets, while the conversation's last turn is not a tool result, a call of its first tool
 * with arguments made from the tool's JSON schema (strings "Paris", numbers 1, booleans true);
 * after a tool result, a text reply quoting it ("The tool said: ..."), which proves the result
 * came back. Works on the chat, Anthropic Messages and Responses request shapes. */
#ifndef SLUICE_MOCK_AUTOTOOL_H
#define SLUICE_MOCK_AUTOTOOL_H

#include <stdbool.h>

#include "opts.h"
#include "sluice/str.h"

enum at_wire {
    AT_CHAT = 0,
    AT_ANTHROPIC,
    AT_RESPONSES,
};

/* What the reply is: a call of tool, or the text reply. */
struct at_plan {
    bool call;
    struct mock_tool_call tool; /* args: the arguments as compact JSON */
    struct sl_str reply;        /* raw text */
};

/* True when body's model asks for scripted tool use and the request offers a function tool;
 * *out then says what to reply. Strings are allocated with alloc. body must be valid JSON. */
bool at_plan(enum at_wire wire, struct sl_str body, mock_alloc_fn *alloc, void *ud,
             struct at_plan *out);

/* Makes o reply as plan says: the call (as mock.tool_calls, or mock.tool_use for Anthropic), or
 * the text. */
void at_apply(struct mock_opts *o, const struct at_plan *plan, bool anthropic, mock_alloc_fn *alloc,
              void *ud);

#endif
