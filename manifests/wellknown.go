package manifests

import "strings"

// wellKnownAPIs are the resource APIs every tenant has under the same appId, the ones every
// mail integration uses, so a manifest may name them without a lookup by display name.
func wellKnownAPIs() [][2]string {
	return [][2]string{
		{MicrosoftGraphName, MicrosoftGraphAppID},
		{ExchangeOnlineName, ExchangeOnlineAppID},
	}
}

// WellKnownAPIAppID returns the appId of the well-known API with display name name.
func WellKnownAPIAppID(name string) (string, bool) {
	for _, api := range wellKnownAPIs() {
		if api[0] == name {
			return api[1], true
		}
	}
	return "", false
}

// WellKnownAPIName returns the display name of the well-known API with appId appID.
func WellKnownAPIName(appID string) (string, bool) {
	for _, api := range wellKnownAPIs() {
		if strings.EqualFold(api[1], appID) {
			return api[0], true
		}
	}
	return "", false
}

// WellKnownAPINames lists the well-known APIs' display names.
func WellKnownAPINames() []string {
	var out []string
	for _, api := range wellKnownAPIs() {
		out = append(out, api[0])
	}
	return out
}
