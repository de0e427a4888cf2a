// Package templates will hold the embedded default email and SMS
// templates and their validation. It is empty until the invitations work
// lands.
package templates
