package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// envName is the environment variable of a flag: --resp-addr is
// PANDO_RESP_ADDR.
func envName(flag string) string {
	return "PANDO_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applySettings fills every flag the command line did not set, first from its
// PANDO_ environment variable, then from the YAML config file named by
// --config (or PANDO_CONFIG). Keys in the file are the flag names. The order
// of precedence is: flag, environment, file, default.
func applySettings(cmd *cobra.Command) error {
	flags := cmd.Flags()
	file := map[string]any{}
	path, _ := flags.GetString("config")
	if path == "" {
		path = os.Getenv(envName("config"))
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config file: %w", err)
		}
		if err := yaml.Unmarshal(data, &file); err != nil {
			return fmt.Errorf("config file %s: %w", path, err)
		}
		for k := range file {
			if f := flags.Lookup(k); f == nil || k == "config" {
				return fmt.Errorf("config file %s: unknown setting %q (settings are the flag names of 'pando %s --help')", path, k, cmd.Name())
			}
		}
	}
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "config" || f.Name == "help" {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", envName(f.Name), err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			s, err := yamlScalar(v)
			if err == nil {
				err = f.Value.Set(s)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("config file %s: %s: %w", path, f.Name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// yamlScalar renders a YAML value as the flag string it stands for; lists
// become comma-separated.
func yamlScalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			s, err := yamlScalar(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("want a single value, got a mapping")
	default:
		return fmt.Sprint(x), nil
	}
}
