package main

import "flag"

// The environment variables of the API token. Every command that talks to
// a server reads the one serve reads (-api-token); the older name still
// works.
const (
	tokenEnv    = "ABANDONED_API_TOKEN"
	oldTokenEnv = "ABANDONED_TOKEN"
)

// tokenFromEnv sets fs's -token, if the command line did not give it, from
// ABANDONED_API_TOKEN, or else from ABANDONED_TOKEN.
func tokenFromEnv(fs *flag.FlagSet) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "token" })
	if given {
		return
	}
	for _, name := range []string{tokenEnv, oldTokenEnv} {
		if v, ok := lookupEnv(name); ok && v != "" {
			fs.Set("token", v) //nolint:errcheck // a string flag takes any value
			return
		}
	}
}

// missingToken is the usage error of a command that needs a token and was
// given none; what is the flag that needs it, such as "-url".
func missingToken(cmd, what string) error {
	return usagef(cmd, "%s needs an API token: give -token or set %s", what, tokenEnv)
}
