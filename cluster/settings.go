package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/devk-dev/devk/iso"
)

// Settings are persistent defaults for `devk start` flags (`devk config`), kept in
// $DEVK_HOME/config.json as a JSON object of flag names and the flags' text, such as
// {"cpus": "4", "ports": "8080:30080,8443:30443"}. Key names are stable.
type Settings map[string]string

// SettingKeys lists, sorted, the start flags that `devk config` and DEVK_<FLAG>
// environment variables can set.
func SettingKeys() []string {
	return []string{"accel", "addons", "apiserver-port", "cpus", "driver", "image-cache", "insecure-registry", "kubernetes-version", "memory", "ports", "prebuild-addons", "profile", "registry-mirror"}
}

// Drivers lists the drivers devk has.
func Drivers() []string { return []string{"docker", "qemu"} }

// Accels lists the qemu driver's --accel values (the driver decides what each means).
func Accels() []string { return []string{"auto", "kvm", "tcg"} }

// ValidateAccel checks an --accel value.
func ValidateAccel(mode string) error {
	if !slices.Contains(Accels(), mode) {
		return fmt.Errorf("%w: --accel %q: use one of %s", ErrInvalid, mode, strings.Join(Accels(), ", "))
	}
	return nil
}

// HostSettings are settings about this host rather than a cluster: they apply to every
// start, not only when a cluster is created.
func HostSettings() []string { return []string{"accel", "prebuild-addons"} }

// EnvVar names a setting's environment variable: DEVK_ and the key in upper case with
// dashes as underscores (kubernetes-version: DEVK_KUBERNETES_VERSION).
func EnvVar(key string) string {
	return "DEVK_" + strings.ToUpper(strings.ReplaceAll(key, "-", "_"))
}

// ValidateDriver checks a --driver value.
func ValidateDriver(name string) error {
	if !slices.Contains(Drivers(), name) {
		return fmt.Errorf("%w: --driver %q: available drivers: %s", ErrInvalid, name, strings.Join(Drivers(), ", "))
	}
	return nil
}

// ValidateCPUs checks a --cpus value against this machine.
func ValidateCPUs(n int) error {
	if n < 1 || n > runtime.NumCPU() {
		return fmt.Errorf("%w: --cpus %d: this machine has %d", ErrInvalid, n, runtime.NumCPU())
	}
	return nil
}

// ValidateSettingKey refuses keys that are not settings, listing the ones that are.
func ValidateSettingKey(key string) error {
	if !slices.Contains(SettingKeys(), key) {
		return fmt.Errorf("%w: unknown config key %q: valid keys are %s", ErrInvalid, key, strings.Join(SettingKeys(), ", "))
	}
	return nil
}

// ValidateSetting checks a setting as its start flag would, so a bad value is refused
// when it is set rather than at the next start.
func ValidateSetting(key, value string) error {
	if err := ValidateSettingKey(key); err != nil {
		return err
	}
	if strings.TrimSpace(value) == "" {
		return fmt.Errorf("%w: %s: empty value; remove a setting with `devk config unset %s`", ErrInvalid, key, key)
	}
	switch key {
	case "driver":
		return ValidateDriver(value)
	case "accel":
		return ValidateAccel(value)
	case "cpus":
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: --cpus %q: use a whole number", ErrInvalid, value)
		}
		return ValidateCPUs(n)
	case "memory":
		mb, err := ParseMemory(value)
		if err != nil {
			return err
		}
		return ValidateMemory(mb)
	case "kubernetes-version":
		_, err := iso.NewRecipe(value)
		return err
	case "apiserver-port":
		n, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("%w: --apiserver-port %q: use a port number", ErrInvalid, value)
		}
		if n == 0 { // pick a free one, as the flag's default does
			return nil
		}
		return ParsePort("--apiserver-port", n)
	case "ports":
		for _, p := range strings.Split(value, ",") {
			if _, err := ParsePortMapping(strings.TrimSpace(p)); err != nil {
				return err
			}
		}
	case "addons":
		for _, a := range strings.Split(value, ",") {
			if !profileNamePattern.MatchString(strings.TrimSpace(a)) { // the same DNS-label-like names
				return fmt.Errorf("%w: --addons %q: use comma-separated names of lowercase letters, digits and '-'", ErrInvalid, value)
			}
		}
	case "profile":
		return ValidateProfileName(value)
	case "image-cache", "prebuild-addons":
		if _, err := strconv.ParseBool(value); err != nil {
			return fmt.Errorf("%w: --%s %q: use true or false", ErrInvalid, key, value)
		}
	case "registry-mirror":
		for _, m := range strings.Split(value, ",") {
			if err := ValidateMirror(strings.TrimSpace(m)); err != nil {
				return err
			}
		}
	case "insecure-registry":
		for _, h := range strings.Split(value, ",") {
			if err := ValidateInsecureRegistry(strings.TrimSpace(h)); err != nil {
				return err
			}
		}
	}
	return nil
}

// LookupSetting finds the value the user chose for a setting short of a flag: its
// environment variable (getenv, usually os.Getenv) wins over the settings file. source
// names where the value came from, for error messages.
func LookupSetting(key string, getenv func(string) string, file Settings) (value, source string, ok bool) {
	if v := getenv(EnvVar(key)); v != "" {
		return v, "environment variable " + EnvVar(key), true
	}
	if v, ok := file[key]; ok {
		return v, "`devk config` setting " + key, true
	}
	return "", "", false
}

// SettingsPath is the settings file.
func (h Home) SettingsPath() string { return filepath.Join(h.Dir, "config.json") }

// LoadSettings reads the settings file; a missing file is no settings.
func (h Home) LoadSettings() (Settings, error) {
	data, err := os.ReadFile(h.SettingsPath())
	if errors.Is(err, os.ErrNotExist) {
		return Settings{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read devk settings: %w", err)
	}
	s := Settings{}
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("devk settings file %s is corrupt (%v); fix it or remove it", h.SettingsPath(), err)
	}
	return s, nil
}

// UpdateSettings changes the settings file under a lock, so two `devk config` commands
// never lose each other's change, and writes it atomically.
func (h Home) UpdateSettings(change func(Settings) error) error {
	// '_' keeps the lock apart from profiles' locks: no profile name has one.
	unlock, err := Lock(filepath.Join(h.Dir, "locks", "_settings.lock"), 30*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	s, err := h.LoadSettings()
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(h.SettingsPath(), append(data, '\n'), 0o600)
}
