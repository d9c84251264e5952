package simtenant

import (
	"encoding/json"
	"fmt"
	"strings"
)

// kind describes one entity type: its properties (from the CSDL-derived schema), which of them
// $filter accepts by default, and the properties returned when no $select is sent.
type kind struct {
	typeName        string            // application (as in microsoft.graph.application)
	resourceName    string            // Application (as in the directory's error messages)
	props           map[string]string // lower-case name → canonical name
	defaults        map[string]any    // every structural property with its empty value
	filters         map[string]string // path → space-separated operators accepted by default
	advancedFilters map[string]bool   // paths accepted only with ConsistencyLevel + $count
	defaultSelect   []string          // nil: all properties
}

func (k *kind) property(name string) (string, bool) {
	c, ok := k.props[strings.ToLower(name)]
	return c, ok
}

// newDefaults returns a fresh copy of the entity's empty form.
func (k *kind) newDefaults() map[string]any { return cloneMap(k.defaults) }

// kinds holds the entity types the tenant serves.
type kinds struct {
	application, servicePrincipal, grant, assignment, user, group *kind
}

type schemaDoc struct {
	Defs map[string]struct {
		Properties map[string]struct {
			CSDLType     string `json:"x-csdl-type"`
			CSDLNullable *bool  `json:"x-csdl-nullable"`
			Type         any    `json:"type"`
		} `json:"properties"`
	} `json:"$defs"`
}

func loadKinds() (*kinds, error) {
	var doc schemaDoc
	if err := json.Unmarshal([]byte(graphSchemasJSON), &doc); err != nil {
		return nil, fmt.Errorf("parse graph schema: %w", err)
	}
	build := func(typeName, resourceName string) (*kind, error) {
		def, ok := doc.Defs["microsoft.graph."+typeName]
		if !ok {
			return nil, fmt.Errorf("graph schema has no %s", typeName)
		}
		k := &kind{typeName: typeName, resourceName: resourceName, props: map[string]string{}, defaults: map[string]any{}}
		for name, p := range def.Properties {
			if p.CSDLType == "Edm.Stream" {
				continue // streams (logo) are never part of the JSON entity
			}
			k.props[strings.ToLower(name)] = name
			// Non-nullable collections are [] and non-nullable booleans false, never null.
			switch {
			case p.Type == "array" || strings.HasPrefix(p.CSDLType, "Collection(") && p.CSDLNullable != nil && !*p.CSDLNullable:
				k.defaults[name] = []any{}
			case p.Type == "boolean":
				k.defaults[name] = false
			default:
				k.defaults[name] = nil
			}
		}
		return k, nil
	}
	ks := &kinds{}
	var err error
	if ks.application, err = build("application", "Application"); err != nil {
		return nil, err
	}
	if ks.servicePrincipal, err = build("servicePrincipal", "ServicePrincipal"); err != nil {
		return nil, err
	}
	// Real v1.0 answers carry createdDateTime on service principals (recorded), though the
	// CSDL the schema derives from does not declare it.
	ks.servicePrincipal.props["createddatetime"] = "createdDateTime"
	ks.servicePrincipal.defaults["createdDateTime"] = nil
	if ks.grant, err = build("oAuth2PermissionGrant", "OAuth2PermissionGrant"); err != nil {
		return nil, err
	}
	if ks.assignment, err = build("appRoleAssignment", "AppRoleAssignment"); err != nil {
		return nil, err
	}
	if ks.user, err = build("user", "User"); err != nil {
		return nil, err
	}
	ks.group = groupKind()

	// Default filter support, from filter-directory-objects.md as summarised in the reference.
	ks.application.filters = map[string]string{
		"id": "eq in", "appId": "eq in", "displayName": "eq in startswith ge le", "uniqueName": "eq in",
		"tags/any": "eq startswith", "identifierUris/any": "eq startswith", "publisherDomain": "eq in startswith",
		"signInAudience": "eq in", "createdDateTime": "ge le eq in",
	}
	ks.application.advancedFilters = map[string]bool{
		"description": true, "requiredResourceAccess/any/resourceAppId": true, "web/redirectUris/any": true,
		"notes": true,
	}
	ks.servicePrincipal.filters = map[string]string{
		"id": "eq in", "appId": "eq in", "displayName": "eq in startswith ge le", "servicePrincipalNames/any": "eq startswith",
		"tags/any": "eq startswith", "servicePrincipalType": "eq in", "accountEnabled": "eq",
		"appOwnerOrganizationId": "eq in",
	}
	ks.servicePrincipal.advancedFilters = map[string]bool{"description": true, "notes": true}
	ks.grant.filters = map[string]string{"id": "eq", "clientId": "eq", "consentType": "eq", "principalId": "eq", "resourceId": "eq"}
	ks.assignment.filters = map[string]string{"resourceId": "eq", "principalId": "eq", "appRoleId": "eq"}
	ks.user.filters = map[string]string{
		"id": "eq in", "userPrincipalName": "eq in startswith ge le", "mail": "eq in startswith ge le",
		"displayName": "eq in startswith ge le", "givenName": "eq in startswith ge le", "surname": "eq in startswith ge le",
		"accountEnabled": "eq", "proxyAddresses/any": "eq startswith", "otherMails/any": "eq startswith",
		"mailNickname": "eq in startswith ge le", "userType": "eq in",
	}
	ks.user.advancedFilters = map[string]bool{"mail": true, "userPrincipalName": true, "otherMails/any": true, "proxyAddresses/any": true}
	ks.user.defaultSelect = []string{"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
		"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"}
	return ks, nil
}

// groupKind is written by hand: the reference schema does not carry the group type.
func groupKind() *kind {
	k := &kind{typeName: "group", resourceName: "Group", props: map[string]string{}, defaults: map[string]any{}}
	for name, v := range map[string]any{
		"id": nil, "deletedDateTime": nil, "classification": nil, "createdDateTime": nil, "creationOptions": []any{},
		"description": nil, "displayName": nil, "expirationDateTime": nil, "groupTypes": []any{}, "isAssignableToRole": nil,
		"mail": nil, "mailEnabled": nil, "mailNickname": nil, "membershipRule": nil, "membershipRuleProcessingState": nil,
		"onPremisesDomainName": nil, "onPremisesLastSyncDateTime": nil, "onPremisesNetBiosName": nil,
		"onPremisesSamAccountName": nil, "onPremisesSecurityIdentifier": nil, "onPremisesSyncEnabled": nil,
		"preferredDataLocation": nil, "preferredLanguage": nil, "proxyAddresses": []any{}, "renewedDateTime": nil,
		"resourceBehaviorOptions": []any{}, "resourceProvisioningOptions": []any{}, "securityEnabled": nil,
		"securityIdentifier": nil, "theme": nil, "uniqueName": nil, "visibility": nil, "onPremisesProvisioningErrors": []any{},
		"serviceProvisioningErrors": []any{},
	} {
		k.props[strings.ToLower(name)] = name
		k.defaults[name] = v
	}
	k.filters = map[string]string{
		"id": "eq in", "displayName": "eq in startswith ge le", "mail": "eq in startswith ge le",
		"mailNickname": "eq in startswith ge le", "securityEnabled": "eq", "mailEnabled": "eq",
		"groupTypes/any": "eq", "proxyAddresses/any": "eq startswith",
	}
	k.advancedFilters = map[string]bool{"description": true, "mail": true}
	return k
}
