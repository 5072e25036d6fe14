/**
 * The AWS SDK warns on every process start that its 2027 releases need Node 22. The CLI and the
 * demo run on Node 20 by design (DESIGN.md, runtime targets), so on an operator's terminal that
 * warning is noise; the SDK's own switch turns it off unless the user set it either way.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
