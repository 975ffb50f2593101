package tui

import (
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// newFailure is a failure that arrives on the stream during a test.
var newFailure = api.AuthFailure{ID: "f4", Time: fakeTime.Add(-2 * time.Second), Count: 1, IP: "10.0.0.77", Method: "GET", Path: "/api/admin/users", Route: "/api/admin/users", Status: 401, Reason: "unauthorized", RequestID: "req-4"}
