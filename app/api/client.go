package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client is a typed client of the gatehouse API. It authenticates with a
// Bearer token (a session token from Login, or a personal API token).
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client
}

// NewClient returns a client of the server at baseURL ("http://127.0.0.1:8080").
func NewClient(baseURL, token string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		HTTP:    &http.Client{Timeout: 30 * time.Second},
	}
}

// ListOptions selects a page of a list.
type ListOptions struct {
	Limit  int
	Cursor string
	// Filter holds list-specific filters: "q" for users; "reason", "ip",
	// "user" for auth failures.
	Filter map[string]string
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	for k, v := range o.Filter {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// do sends one request and decodes a JSON answer into out (when not nil).
// Any error answer comes back as *Error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	return c.doIfMatch(ctx, method, path, query, "", in, out)
}

// doIfMatch is do with an If-Match header when etag is not empty: the
// server answers 412 precondition_failed when the object changed since.
func (c *Client) doIfMatch(ctx context.Context, method, path string, query url.Values, etag string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("api: encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	u := c.BaseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return fmt.Errorf("api: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err = io.Copy(w, resp.Body)
		return err
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("api: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// decodeError turns an error answer into *Error, whatever its body.
func decodeError(resp *http.Response) error {
	e := &Error{Status: resp.StatusCode}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err := json.Unmarshal(b, e); err != nil || e.Code == "" {
		e.Code = http.StatusText(resp.StatusCode)
		e.Message = strings.TrimSpace(string(b))
	}
	return e
}

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Health calls GET /api/health.
func (c *Client) Health(ctx context.Context) (Health, error) {
	var h Health
	err := c.do(ctx, http.MethodGet, "/api/health", nil, nil, &h)
	return h, err
}

// Login signs in and keeps the session token for the calls that follow.
func (c *Client) Login(ctx context.Context, in LoginRequest) (LoginResponse, error) {
	var out LoginResponse
	if err := c.do(ctx, http.MethodPost, "/api/auth/login", nil, in, &out); err != nil {
		return out, err
	}
	c.Token = out.Token
	return out, nil
}

// Logout ends the current session.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/auth/logout", nil, nil, nil)
}

// Me returns the signed-in user and the admin routes they may use.
func (c *Client) Me(ctx context.Context) (Me, error) {
	var u Me
	err := c.do(ctx, http.MethodGet, "/api/auth/me", nil, nil, &u)
	return u, err
}

// ListUsers lists users; opts.Filter["q"] searches email and name.
func (c *Client) ListUsers(ctx context.Context, opts ListOptions) (List[User], error) {
	var l List[User]
	err := c.do(ctx, http.MethodGet, "/api/admin/users", opts.query(), nil, &l)
	return l, err
}

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, in CreateUserRequest) (User, error) {
	var u User
	err := c.do(ctx, http.MethodPost, "/api/admin/users", nil, in, &u)
	return u, err
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	err := c.do(ctx, http.MethodGet, "/api/admin/users/"+url.PathEscape(id), nil, nil, &u)
	return u, err
}

// UpdateUser changes a user.
func (c *Client) UpdateUser(ctx context.Context, id string, in UpdateUserRequest) (User, error) {
	var u User
	err := c.do(ctx, http.MethodPatch, "/api/admin/users/"+url.PathEscape(id), nil, in, &u)
	return u, err
}

// UpdateUserIfMatch changes a user only if it is still at version etag
// (User.ETag); otherwise the answer is 412 precondition_failed.
func (c *Client) UpdateUserIfMatch(ctx context.Context, id, etag string, in UpdateUserRequest) (User, error) {
	var u User
	err := c.doIfMatch(ctx, http.MethodPatch, "/api/admin/users/"+url.PathEscape(id), nil, etag, in, &u)
	return u, err
}

// AddUserRole gives a user one role, if the user is still at version etag
// (empty: whatever the version); it returns the user afterwards.
func (c *Client) AddUserRole(ctx context.Context, id, role, etag string) (User, error) {
	var u User
	err := c.doIfMatch(ctx, http.MethodPut, "/api/admin/users/"+url.PathEscape(id)+"/roles/"+url.PathEscape(role), nil, etag, nil, &u)
	return u, err
}

// RemoveUserRole takes one role from a user, like AddUserRole.
func (c *Client) RemoveUserRole(ctx context.Context, id, role, etag string) (User, error) {
	var u User
	err := c.doIfMatch(ctx, http.MethodDelete, "/api/admin/users/"+url.PathEscape(id)+"/roles/"+url.PathEscape(role), nil, etag, nil, &u)
	return u, err
}

// DeleteUser deletes a user.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/users/"+url.PathEscape(id), nil, nil, nil)
}

// UserSessions lists a user's live sessions and tokens.
func (c *Client) UserSessions(ctx context.Context, id string) ([]UserSession, error) {
	var out []UserSession
	err := c.do(ctx, http.MethodGet, "/api/admin/users/"+url.PathEscape(id)+"/sessions", nil, nil, &out)
	return out, err
}

// EndSessions ends all sessions of a user.
func (c *Client) EndSessions(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/users/"+url.PathEscape(id)+"/sessions", nil, nil, nil)
}

// ResetMFA turns off a user's second factor.
func (c *Client) ResetMFA(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/users/"+url.PathEscape(id)+"/mfa", nil, nil, nil)
}

// ListGroups lists groups.
func (c *Client) ListGroups(ctx context.Context, opts ListOptions) (List[Group], error) {
	var l List[Group]
	err := c.do(ctx, http.MethodGet, "/api/admin/groups", opts.query(), nil, &l)
	return l, err
}

// CreateGroup creates a group.
func (c *Client) CreateGroup(ctx context.Context, in CreateGroupRequest) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodPost, "/api/admin/groups", nil, in, &g)
	return g, err
}

// GetGroup returns a group with its members.
func (c *Client) GetGroup(ctx context.Context, name string) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodGet, "/api/admin/groups/"+url.PathEscape(name), nil, nil, &g)
	return g, err
}

// UpdateGroup changes a group's description or roles.
func (c *Client) UpdateGroup(ctx context.Context, name string, in UpdateGroupRequest) (Group, error) {
	var g Group
	err := c.do(ctx, http.MethodPatch, "/api/admin/groups/"+url.PathEscape(name), nil, in, &g)
	return g, err
}

// UpdateGroupIfMatch changes a group only if it is still at version etag.
func (c *Client) UpdateGroupIfMatch(ctx context.Context, name, etag string, in UpdateGroupRequest) (Group, error) {
	var g Group
	err := c.doIfMatch(ctx, http.MethodPatch, "/api/admin/groups/"+url.PathEscape(name), nil, etag, in, &g)
	return g, err
}

// DeleteGroup deletes a group and its rules.
func (c *Client) DeleteGroup(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/groups/"+url.PathEscape(name), nil, nil, nil)
}

// AddMember puts a user in a group.
func (c *Client) AddMember(ctx context.Context, group, userID string) error {
	return c.AddMemberIfMatch(ctx, group, userID, "")
}

// RemoveMember takes a user out of a group.
func (c *Client) RemoveMember(ctx context.Context, group, userID string) error {
	return c.RemoveMemberIfMatch(ctx, group, userID, "")
}

// AddMemberIfMatch puts a user in a group if the group is still at version
// etag (Group.ETag; empty: whatever the version).
func (c *Client) AddMemberIfMatch(ctx context.Context, group, userID, etag string) error {
	return c.doIfMatch(ctx, http.MethodPut, "/api/admin/groups/"+url.PathEscape(group)+"/members/"+url.PathEscape(userID), nil, etag, nil, nil)
}

// RemoveMemberIfMatch takes a user out of a group, like AddMemberIfMatch.
func (c *Client) RemoveMemberIfMatch(ctx context.Context, group, userID, etag string) error {
	return c.doIfMatch(ctx, http.MethodDelete, "/api/admin/groups/"+url.PathEscape(group)+"/members/"+url.PathEscape(userID), nil, etag, nil, nil)
}

// ListPolicies lists policy rules.
func (c *Client) ListPolicies(ctx context.Context, opts ListOptions) (List[Rule], error) {
	var l List[Rule]
	err := c.do(ctx, http.MethodGet, "/api/admin/policies", opts.query(), nil, &l)
	return l, err
}

// AddPolicy adds one rule.
func (c *Client) AddPolicy(ctx context.Context, in RuleInput) (Rule, error) {
	var r Rule
	err := c.do(ctx, http.MethodPost, "/api/admin/policies", nil, in, &r)
	return r, err
}

// RemovePolicy removes one rule by id.
func (c *Client) RemovePolicy(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/admin/policies/"+url.PathEscape(id), nil, nil, nil)
}

// CheckPolicy asks the what-if question.
func (c *Client) CheckPolicy(ctx context.Context, in CheckRequest) (CheckResult, error) {
	var r CheckResult
	err := c.do(ctx, http.MethodPost, "/api/admin/policies/check", nil, in, &r)
	return r, err
}

// ImportPolicies adds (or, with Replace, sets) rules from CSV.
func (c *Client) ImportPolicies(ctx context.Context, in PolicyImport) (PolicyImportResult, error) {
	var r PolicyImportResult
	err := c.do(ctx, http.MethodPost, "/api/admin/policies/import", nil, in, &r)
	return r, err
}

// ExportPolicies writes the policy as CSV to w.
func (c *Client) ExportPolicies(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodGet, "/api/admin/policies/export", nil, nil, w)
}

// ListAuthFailures lists recorded auth failures, newest first; Filter takes
// "reason", "ip" and "user".
func (c *Client) ListAuthFailures(ctx context.Context, opts ListOptions) (List[AuthFailure], error) {
	var l List[AuthFailure]
	err := c.do(ctx, http.MethodGet, "/api/admin/auth-failures", opts.query(), nil, &l)
	return l, err
}

// ListAudit lists the audit log, newest first.
func (c *Client) ListAudit(ctx context.Context, opts ListOptions) (List[AuditEntry], error) {
	var l List[AuditEntry]
	err := c.do(ctx, http.MethodGet, "/api/admin/audit", opts.query(), nil, &l)
	return l, err
}

// Routes returns the route inventory.
func (c *Client) Routes(ctx context.Context) (RouteInventory, error) {
	var r RouteInventory
	err := c.do(ctx, http.MethodGet, "/api/admin/routes", nil, nil, &r)
	return r, err
}

// Backup writes a consistent copy of the database to w.
func (c *Client) Backup(ctx context.Context, w io.Writer) error {
	return c.do(ctx, http.MethodGet, "/api/admin/backup", nil, nil, w)
}

// StreamAuthFailures follows GET /api/admin/auth-failures/stream and calls
// fn for each record until ctx ends or the stream breaks. It returns nil
// only when ctx ended. A stream client has no overall timeout.
func (c *Client) StreamAuthFailures(ctx context.Context, fn func(AuthFailure)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/admin/auth-failures/stream", nil)
	if err != nil {
		return fmt.Errorf("api: %w", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := *c.httpClient()
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("api: stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case line == "":
			if data.Len() > 0 {
				var f AuthFailure
				if err := json.Unmarshal([]byte(data.String()), &f); err == nil {
					fn(f)
				}
				data.Reset()
			}
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("api: stream: %w", err)
	}
	return errors.New("api: stream: server ended the stream")
}
