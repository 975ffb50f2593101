package app

import (
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// CORS is off unless Config.CORSOrigins lists origins: without it a
// browser page of another origin can neither read an answer nor send a
// request with custom headers (Authorization, X-CSRF-Token, a JSON
// Content-Type). When on, an origin is allowed only by exact match, and
// gets credentials; never "*", which browsers refuse with credentials
// anyway and which would hand every site the caller's session.

// corsMaxAge is how long (seconds) a browser may cache a preflight answer.
const corsMaxAge = "600"

var (
	corsAllowMethods  = strings.Join([]string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}, ", ")
	corsAllowHeaders  = strings.Join([]string{echo.HeaderAuthorization, echo.HeaderContentType, csrfHeader, "If-Match"}, ", ")
	corsExposeHeaders = strings.Join([]string{echo.HeaderXRequestID, "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After", echo.HeaderAllow, "ETag"}, ", ")
)

// allowCORS answers browsers of the allowed origins: it sets the CORS
// headers on every answer to them (errors included, so that a page can
// read a 429) and answers their preflights itself, before rate limiting
// counts them (a preflight does no work; counting it would halve a
// browser's budget) and before any authorization (a preflight carries no
// credentials by design). It is only installed when origins are listed.
func (s *Server) allowCORS(next echo.HandlerFunc) echo.HandlerFunc {
	origins := s.cfg.CORSOrigins
	return func(c echo.Context) error {
		req := c.Request()
		h := c.Response().Header()
		// Answers differ by Origin: caches must keep them apart.
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
		origin := req.Header.Get(echo.HeaderOrigin)
		if origin == "" || !slices.Contains(origins, origin) {
			return next(c)
		}
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
		h.Set(echo.HeaderAccessControlAllowCredentials, "true")
		if req.Method != http.MethodOptions || req.Header.Get(echo.HeaderAccessControlRequestMethod) == "" {
			h.Set(echo.HeaderAccessControlExposeHeaders, corsExposeHeaders)
			return next(c)
		}
		h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestMethod)
		h.Add(echo.HeaderVary, echo.HeaderAccessControlRequestHeaders)
		h.Set(echo.HeaderAccessControlAllowMethods, corsAllowMethods)
		h.Set(echo.HeaderAccessControlAllowHeaders, corsAllowHeaders)
		h.Set(echo.HeaderAccessControlMaxAge, corsMaxAge)
		s.peekRate(c)
		return c.NoContent(http.StatusNoContent)
	}
}
